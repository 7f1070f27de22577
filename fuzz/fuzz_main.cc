// The libFuzzer entry point of one target, chosen at compile time (PIONEER_FUZZ_TARGET).
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pioneer::fuzz::PIONEER_FUZZ_TARGET(data, size);
}
