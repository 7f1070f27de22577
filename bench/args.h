// Command-line options of the benchmark tools: "--key value" pairs after the subcommand.
#pragma once

#include <map>
#include <string>

namespace pioneer::bench {

struct Args {
  std::map<std::string, std::string> kv;

  std::string get(const std::string& k, const std::string& d = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? d : it->second;
  }
  double num(const std::string& k, double d) const {
    auto it = kv.find(k);
    return it == kv.end() ? d : std::stod(it->second);
  }
  // Reads argv[from..] as "--key value" pairs; anything else is skipped.
  static Args parse(int argc, char** argv, int from) {
    Args a;
    for (int i = from; i + 1 < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) == 0) a.kv[k.substr(2)] = argv[++i];
    }
    return a;
  }
};

}  // namespace pioneer::bench
