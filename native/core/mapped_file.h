// Read-only memory maps of weight files. Weights are used in place where the backend allows, so
// resident memory stays near the model's size and pages load on first touch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace pagedinfer {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws ModelFormatError
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// One mapping per file, shared by all tensors in it.
class MappedFiles {
 public:
  const MappedFile& open(const std::string& path);
  void clear() { files_.clear(); }

 private:
  std::map<std::string, std::unique_ptr<MappedFile>> files_;
};

}  // namespace pagedinfer
