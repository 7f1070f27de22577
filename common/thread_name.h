// Names the calling thread (shown by top -H, perf and gdb): "pioneer-writer", "pioneer-io" …
#pragma once

#include <pthread.h>

namespace pioneer {

// Linux limits a thread name to 15 bytes; longer names are cut.
inline void name_this_thread(const char* name) {
  char cut[16] = {};
  for (int i = 0; i < 15 && name[i] != '\0'; ++i) cut[i] = name[i];
  pthread_setname_np(pthread_self(), cut);
}

}  // namespace pioneer
