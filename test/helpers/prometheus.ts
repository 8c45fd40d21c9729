// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests. Every line
// must match the format's grammar (HELP, TYPE, or a sample with a well-formed label set and
// value), every sample must belong to a family declared by # TYPE before it, and each histogram
// series must have cumulative buckets ending in +Inf, equal to its _count, with a _sum.
// (The npm parser tried first, parse-prometheus-text-format, drops the labels, count and sum of
// labelled histograms, so it could not check ours.)

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const LABEL = `${LABEL_NAME}=${LABEL_VALUE}`;
// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client
// writes "Nan"); the reader accepts what Prometheus accepts.
const VALUE = '(?:[nN][aA][nN]|[+-]?[iI][nN][fF]|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:(${LABEL}(?:,${LABEL})*),?)?\\})? (${VALUE})(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const LABEL_PAIR = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE})`, 'g');

function parseValue(text: string): number {
  if (/^nan$/i.test(text)) return NaN;
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  return Number(text);
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!text) return labels;
  for (const m of text.matchAll(LABEL_PAIR)) {
    if (m[1] in labels) throw new Error(`label ${m[1]} given twice`);
    labels[m[1]] = JSON.parse(m[2]) as string;
  }
  return labels;
}

/** The family a sample belongs to: histogram and summary samples carry suffixes. */
function familyOf(sample: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  const m = /^(.*)_(bucket|sum|count)$/.exec(sample);
  const f = m ? families.get(m[1]) : undefined;
  return f && (f.type === 'histogram' || f.type === 'summary') ? f : undefined;
}

function withoutLe(labels: Record<string, string>): string {
  const { le: _le, ...rest } = labels;
  return JSON.stringify(Object.entries(rest).sort());
}

function checkHistogram(f: MetricFamily): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const key = withoutLe(s.labels);
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (s.labels.le === undefined) throw new Error(`${f.name}: a bucket without le`);
      entry.buckets.push([parseValue(s.labels.le), s.value]);
    } else if (s.name === `${f.name}_count`) entry.count = s.value;
    else if (s.name === `${f.name}_sum`) entry.sum = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, e] of series) {
    const where = `${f.name}${key}`;
    if (e.count === undefined || e.sum === undefined) throw new Error(`${where}: missing _count or _sum`);
    for (let k = 1; k < e.buckets.length; k++) {
      if (!(e.buckets[k][0] > e.buckets[k - 1][0])) throw new Error(`${where}: bucket bounds not increasing`);
      if (e.buckets[k][1] < e.buckets[k - 1][1]) throw new Error(`${where}: buckets not cumulative`);
    }
    const last = e.buckets.at(-1);
    if (!last || last[0] !== Infinity) throw new Error(`${where}: no +Inf bucket`);
    if (last[1] !== e.count) throw new Error(`${where}: +Inf bucket ${last[1]} differs from count ${e.count}`);
  }
}

export function parseExposition(text: string): MetricFamily[] {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, MetricFamily>();
  const help = new Map<string, string>();
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1}: ${JSON.stringify(line)}`;
      if (line.startsWith('# HELP ')) {
        const m = HELP.exec(line);
        if (!m) throw new Error(`malformed HELP, ${where}`);
        help.set(m[1], m[2]);
      } else if (line.startsWith('# TYPE ')) {
        const m = TYPE.exec(line);
        if (!m) throw new Error(`malformed TYPE, ${where}`);
        if (families.has(m[1])) throw new Error(`TYPE declared twice, ${where}`);
        families.set(m[1], { name: m[1], type: m[2], help: '', samples: [] });
      } else if (line !== '' && !line.startsWith('#')) {
        const m = SAMPLE.exec(line);
        if (!m) throw new Error(`malformed sample, ${where}`);
        const f = familyOf(m[1], families);
        if (!f) throw new Error(`sample of an undeclared family, ${where}`);
        f.samples.push({ name: m[1], labels: parseLabels(m[2]), value: parseValue(m[3]) });
      }
      // Empty lines and other comments are allowed and ignored.
    });
  for (const f of families.values()) {
    f.help = help.get(f.name) ?? '';
    if (f.type === 'histogram') checkHistogram(f);
  }
  return [...families.values()];
}

function family(families: MetricFamily[], name: string, type: string): MetricFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no metric family ${name}`);
  if (f.type !== type) throw new Error(`${name} is a ${f.type}, not a ${type}`);
  return f;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
}

/** A counter's or gauge's value for exactly these labels. */
export function sampleValue(families: MetricFamily[], name: string, type: 'counter' | 'gauge', labels: Record<string, string>): number {
  const s = family(families, name, type).samples.find((x) => sameLabels(x.labels, labels));
  if (!s) throw new Error(`no ${name} series with labels ${JSON.stringify(labels)}`);
  return s.value;
}

/** A histogram series' observation count. */
export function histogramCount(families: MetricFamily[], name: string, labels: Record<string, string>): number {
  const s = family(families, name, 'histogram').samples.find((x) => x.name === `${name}_count` && sameLabels(x.labels, labels));
  if (!s) throw new Error(`no ${name} series with labels ${JSON.stringify(labels)}`);
  return s.value;
}
