#include "model_wrap.h"

#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include "../core/errors.h"
#include "backend_factory.h"
#include "js_errors.h"
#include "step_batch.h"

namespace pagedinfer {

namespace {

int intField(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) throw InvalidArgumentError(std::string("config.") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != std::floor(d) || d < 0 || d > 2147483647.0)
    throw InvalidArgumentError(std::string("config.") + name + " must be a non-negative integer");
  return int(d);
}

ModelConfig readConfig(const Napi::Object& c) {
  ModelConfig m;
  m.hiddenSize = intField(c, "hiddenSize");
  m.intermediateSize = intField(c, "intermediateSize");
  m.numLayers = intField(c, "numLayers");
  m.numHeads = intField(c, "numHeads");
  m.numKvHeads = intField(c, "numKvHeads");
  m.headDim = intField(c, "headDim");
  m.vocabSize = intField(c, "vocabSize");
  m.maxContext = intField(c, "maxContext");
  m.rotaryDim = intField(c, "rotaryDim");
  m.rmsNormEps = c.Get("rmsNormEps").As<Napi::Number>().FloatValue();
  m.ropeNeox = c.Get("ropeNeox").ToBoolean();
  m.tieWordEmbeddings = c.Get("tieWordEmbeddings").ToBoolean();
  m.attentionBias = c.Get("attentionBias").ToBoolean();
  m.qkNorm = c.Get("qkNorm").ToBoolean();
  Napi::Value inv = c.Get("ropeInvFreq");
  if (!inv.IsTypedArray() || inv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw InvalidArgumentError("config.ropeInvFreq must be a Float32Array");
  Napi::Float32Array f = inv.As<Napi::Float32Array>();
  m.ropeInvFreq.assign(f.Data(), f.Data() + f.ElementLength());
  return m;
}

std::vector<TensorSource> readTensors(const Napi::Array& list) {
  std::vector<TensorSource> out;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Object t = list.Get(i).As<Napi::Object>();
    TensorSource s;
    s.name = t.Get("name").As<Napi::String>().Utf8Value();
    s.file = t.Get("file").As<Napi::String>().Utf8Value();
    double offset = t.Get("offset").As<Napi::Number>().DoubleValue();
    double bytes = t.Get("byteLength").As<Napi::Number>().DoubleValue();
    if (!(offset >= 0) || !(bytes >= 0)) throw ModelFormatError("tensor " + s.name + ": negative offset or size");
    s.offset = uint64_t(offset);
    s.bytes = uint64_t(bytes);
    int32_t code = t.Get("dtypeCode").As<Napi::Number>().Int32Value();
    if (!dtypeKnown(code)) throw ModelFormatError("tensor " + s.name + ": unsupported type code " + std::to_string(code));
    s.dtype = DType(code);
    Napi::Array shape = t.Get("shape").As<Napi::Array>();
    for (uint32_t j = 0; j < shape.Length(); j++) s.shape.push_back(int64_t(shape.Get(j).As<Napi::Number>().DoubleValue()));
    out.push_back(std::move(s));
  }
  return out;
}

// Rejects with an Error carrying `code`, resolves with whatever the subclass builds.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, NativeModel* owner)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner) {
    ownerRef_ = Napi::Persistent(owner->Value());
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() final {
    try {
      Run();
    } catch (const std::exception& e) {
      code_ = errorCode(e);
      SetError(e.what());
    }
  }
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  // Tells the owner this work is over (steps count apart from other work).
  virtual void settle() { owner_->finishWork(); }
  void OnOK() final {
    settle();
    deferred_.Resolve(Result(Env()));
  }
  void OnError(const Napi::Error& e) final {
    settle();
    deferred_.Reject(toJsError(Env(), code_.empty() ? "ERR_NATIVE" : code_, e.Message()).Value());
  }
  Napi::Promise::Deferred deferred_;
  NativeModel* owner_;
  Napi::ObjectReference ownerRef_;
  std::string code_;
};

class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, NativeModel* owner, std::vector<TensorSource> tensors, bool dummy, DType dummyType,
             uint64_t seed, Napi::Function progress)
      : PromiseWorker(env, owner), tensors_(std::move(tensors)), dummy_(dummy), dummyType_(dummyType), seed_(seed) {
    if (!progress.IsEmpty()) {
      progress_ = Napi::ThreadSafeFunction::New(env, progress, "pagedinfer-load-progress", 0, 1);
      hasProgress_ = true;
    }
  }
  ~LoadWorker() override {
    if (hasProgress_) progress_.Release();
  }

 protected:
  void Run() override {
    std::function<void(double)> report;
    if (hasProgress_) {
      report = [this](double fraction) {
        // Coalesce: at most one report per percent.
        if (fraction < 1.0 && fraction - lastReported_ < 0.01) return;
        lastReported_ = fraction;
        double* value = new double(fraction);
        if (progress_.NonBlockingCall(value, [](Napi::Env env, Napi::Function fn, double* v) {
              fn.Call({Napi::Number::New(env, *v)});
              delete v;
            }) != napi_ok)
          delete value;
      };
    }
    if (dummy_) owner_->model()->loadDummy(dummyType_, seed_, report);
    else owner_->model()->load(tensors_, report);
  }

 private:
  std::vector<TensorSource> tensors_;
  bool dummy_;
  DType dummyType_;
  uint64_t seed_;
  Napi::ThreadSafeFunction progress_;
  bool hasProgress_ = false;
  double lastReported_ = -1;
};

// One step in two phases (Model::enqueueStep, then Model::finishStep), each in ticket order
// (step_order.h), so the next step's enqueue can run while this one waits for its results.
class StepWorker : public PromiseWorker {
 public:
  StepWorker(Napi::Env env, NativeModel* owner, const Napi::Object& batch, int chainableRows) : PromiseWorker(env, owner) {
    readStepBatch(batch, *owner->model(), chainableRows, holder_);
    batchRef_ = Napi::Persistent(batch);  // keeps the typed arrays alive while native code reads them
  }
  void setTicket(uint64_t ticket) { ticket_ = ticket; }
  int sampledRows() const { return holder_.view.sampling ? holder_.view.numLogitRows : 0; }

 protected:
  void Run() override {
    Model& model = *owner_->model();
    std::exception_ptr failed;
    {
      StepOrder::Turn turn(owner_->stepOrder(), StepOrder::kEnqueue, ticket_);
      try {
        model.enqueueStep(holder_.view, output_);
      } catch (...) {
        failed = std::current_exception();
      }
    }
    // The completion turn is taken even after a failed enqueue: later steps wait for it.
    StepOrder::Turn turn(owner_->stepOrder(), StepOrder::kFinish, ticket_);
    if (failed) std::rethrow_exception(failed);
    model.finishStep(holder_.view, output_);
  }
  void settle() override { owner_->finishStep(); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    auto ints = [&](const std::vector<int32_t>& v) {
      Napi::Int32Array a = Napi::Int32Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    auto floats = [&](const std::vector<float>& v) {
      Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    r.Set("tokens", ints(output_.tokens));
    r.Set("logprobs", floats(output_.logprobs));
    r.Set("topIds", ints(output_.topIds));
    r.Set("topLogprobs", floats(output_.topLogprobs));
    r.Set("maxTopN", Napi::Number::New(env, output_.maxTopN));
    r.Set("resampledRows", ints(output_.resampledRows));
    if (holder_.view.returnLogits) r.Set("logits", floats(output_.logits));
    else r.Set("logits", env.Null());
    return r;
  }

 private:
  StepBatchHolder holder_;
  StepOutput output_;
  Napi::ObjectReference batchRef_;
  uint64_t ticket_ = 0;
};

class CeilingsWorker : public PromiseWorker {
 public:
  using PromiseWorker::PromiseWorker;

 protected:
  void Run() override { ceilings_ = owner_->model()->backend().measureCeilings(); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("copyBytesPerSecond", ceilings_.copyBytesPerSecond);
    r.Set("matmulFlopsPerSecond", ceilings_.matmulFlopsPerSecond);
    r.Set("matmulShape", ceilings_.matmulShape);
    return r;
  }

 private:
  DeviceCeilings ceilings_;
};

class WarmupWorker : public PromiseWorker {
 public:
  WarmupWorker(Napi::Env env, NativeModel* owner, int maxTokens, int maxSeqs)
      : PromiseWorker(env, owner), maxTokens_(maxTokens), maxSeqs_(maxSeqs) {}

 protected:
  void Run() override { owner_->model()->warmup(maxTokens_, maxSeqs_); }

 private:
  int maxTokens_, maxSeqs_;
};

}  // namespace

Napi::Function NativeModel::Init(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         InstanceMethod("load", &NativeModel::Load),
                         InstanceMethod("loadDummy", &NativeModel::LoadDummy),
                         InstanceMethod("kvCacheBytesPerBlock", &NativeModel::KvCacheBytesPerBlock),
                         InstanceMethod("initKvCache", &NativeModel::InitKvCache),
                         InstanceMethod("reserveWorkspace", &NativeModel::ReserveWorkspace),
                         InstanceMethod("availableMemory", &NativeModel::AvailableMemory),
                         InstanceMethod("weightBytes", &NativeModel::WeightBytes),
                         InstanceMethod("step", &NativeModel::Step),
                         InstanceMethod("describe", &NativeModel::Describe),
                         InstanceMethod("measureCeilings", &NativeModel::MeasureCeilings),
                         InstanceMethod("warmup", &NativeModel::Warmup),
                         InstanceMethod("dispose", &NativeModel::Dispose),
                     });
}

NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
  Napi::Env env = info.Env();
  try {
    if (!info[0].IsObject()) throw InvalidArgumentError("NativeModel(options): options must be an object");
    Napi::Object options = info[0].As<Napi::Object>();
    if (!options.Get("config").IsObject()) throw InvalidArgumentError("options.config must be an object");
    ModelConfig config = readConfig(options.Get("config").As<Napi::Object>());
    model_ = std::make_unique<Model>(std::move(config), createBackend(options));
  } catch (const std::exception& e) {
    throw toJsError(env, errorCode(e), e.what());
  }
}

NativeModel::~NativeModel() = default;

void NativeModel::finishWork() {
  busy = false;
  disposeIfRequested();
}

void NativeModel::finishStep() {
  stepsInFlight_--;
  disposeIfRequested();
}

void NativeModel::disposeIfRequested() {
  if (disposeRequested_ && !busy && stepsInFlight_ == 0) model_.reset();
}

Model& NativeModel::requireIdle(Napi::Env env) {
  if (!model_) throw toJsError(env, "ERR_INVALID_ARGUMENT", "the model was disposed");
  if (busy || stepsInFlight_ > 0)
    throw toJsError(env, "ERR_INVALID_ARGUMENT", "the model is busy: one load or other call at a time, and none beside a step");
  return *model_;
}

Napi::Value NativeModel::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  try {
    if (!info[0].IsArray()) throw InvalidArgumentError("load(tensors): tensors must be an array");
    std::vector<TensorSource> tensors = readTensors(info[0].As<Napi::Array>());
    Napi::Function progress = info[1].IsFunction() ? info[1].As<Napi::Function>() : Napi::Function();
    auto* worker = new LoadWorker(env, this, std::move(tensors), false, DType::F32, 0, progress);
    busy = true;
    worker->Queue();
    return worker->promise();
  } catch (const std::exception& e) {
    throw toJsError(env, errorCode(e), e.what());
  }
}

Napi::Value NativeModel::LoadDummy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  int32_t code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  if (!dtypeKnown(code)) throw toJsError(env, "ERR_INVALID_ARGUMENT", "loadDummy: unknown weight type");
  uint64_t seed = info[1].IsNumber() ? uint64_t(info[1].As<Napi::Number>().DoubleValue()) : 0;
  Napi::Function progress = info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();
  auto* worker = new LoadWorker(env, this, {}, true, DType(code), seed, progress);
  busy = true;
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeModel::KvCacheBytesPerBlock(const Napi::CallbackInfo& info) {
  Model& m = requireIdle(info.Env());
  int blockSize = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), double(m.kvCacheBytesPerBlock(blockSize)));
}

Napi::Value NativeModel::InitKvCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Model& m = requireIdle(env);
  try {
    m.initKvCache(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  } catch (const std::exception& e) {
    throw toJsError(env, errorCode(e), e.what());
  }
  return env.Undefined();
}

Napi::Value NativeModel::ReserveWorkspace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Model& m = requireIdle(env);
  try {
    m.reserveWorkspace(info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::Number>().Int64Value());
  } catch (const std::exception& e) {
    throw toJsError(env, errorCode(e), e.what());
  }
  return env.Undefined();
}

Napi::Value NativeModel::AvailableMemory(const Napi::CallbackInfo& info) {
  Model& m = requireIdle(info.Env());
  return Napi::Number::New(info.Env(), double(m.availableMemory()));
}

Napi::Value NativeModel::WeightBytes(const Napi::CallbackInfo& info) {
  Model& m = requireIdle(info.Env());
  return Napi::Number::New(info.Env(), double(m.weightBytes()));
}

Napi::Value NativeModel::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_ || disposeRequested_) throw toJsError(env, "ERR_INVALID_ARGUMENT", "the model was disposed");
  if (busy) throw toJsError(env, "ERR_INVALID_ARGUMENT", "the model is busy: a load or other call is running");
  if (stepsInFlight_ >= 2)
    throw toJsError(env, "ERR_INVALID_ARGUMENT", "the model is busy: at most two steps in flight (one running, one queued)");
  StepWorker* worker = nullptr;
  try {
    if (!info[0].IsObject()) throw InvalidArgumentError("step(batch): batch must be an object");
    worker = new StepWorker(env, this, info[0].As<Napi::Object>(), submittedRows_);
  } catch (const std::exception& e) {
    throw toJsError(env, errorCode(e), e.what());
  }
  // The ticket is taken only once the step will surely run: a ticket never served blocks every later step.
  const int sampledRows = worker->sampledRows();
  Napi::Promise promise = worker->promise();
  worker->setTicket(stepOrder_.take());
  try {
    worker->Queue();
  } catch (...) {
    stepOrder_.giveBack();
    delete worker;
    throw;
  }
  stepsInFlight_++;
  submittedRows_ = sampledRows;
  return promise;
}

Napi::Value NativeModel::Describe(const Napi::CallbackInfo& info) {
  if (!model_) return Napi::String::New(info.Env(), "disposed");
  return Napi::String::New(info.Env(), model_->backend().describe());
}

Napi::Value NativeModel::MeasureCeilings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  auto* worker = new CeilingsWorker(env, this);
  busy = true;
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeModel::Warmup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireIdle(env);
  if (!info[0].IsNumber() || !info[1].IsNumber())
    throw toJsError(env, "ERR_INVALID_ARGUMENT", "warmup(maxTokens, maxSeqs): two numbers");
  auto* worker = new WarmupWorker(env, this, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value());
  busy = true;
  worker->Queue();
  return worker->promise();
}

Napi::Value NativeModel::Dispose(const Napi::CallbackInfo& info) {
  if (busy || stepsInFlight_ > 0) disposeRequested_ = true;  // freed when the running workers finish
  else model_.reset();
  return info.Env().Undefined();
}

}  // namespace pagedinfer
