#include "mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"

namespace pagedinfer {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelFormatError("cannot open weight file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw ModelFormatError("cannot stat weight file " + path + ": " + std::strerror(err));
  }
  size_ = uint64_t(st.st_size);
  if (size_ > 0) {
    void* p = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw ModelFormatError("cannot memory-map weight file " + path + ": " + std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

const MappedFile& MappedFiles::open(const std::string& path) {
  auto it = files_.find(path);
  if (it != files_.end()) return *it->second;
  auto file = std::make_unique<MappedFile>(path);
  const MappedFile& ref = *file;
  files_.emplace(path, std::move(file));
  return ref;
}

}  // namespace pagedinfer
