#include "resp/writer.h"

#include <cmath>
#include <cstdio>

namespace resp {

void Writer::bulk_double(long double value) {
  // Redis formats INCRBYFLOAT results with "%.17Lg" and strips a trailing ".000"-style tail
  // (ld2string with LD_STR_HUMAN): it prints a fixed-point form, then removes trailing zeros.
  char buf[5 * 1024];
  int len;
  if (std::isinf(value)) {
    len = std::snprintf(buf, sizeof(buf), "%s", value > 0 ? "inf" : "-inf");
  } else {
    len = std::snprintf(buf, sizeof(buf), "%.17Lf", value);
    if (len > 0 &&
        std::string_view(buf, static_cast<std::size_t>(len)).find('.') != std::string_view::npos) {
      while (len > 0 && buf[len - 1] == '0') --len;
      if (len > 0 && buf[len - 1] == '.') --len;
    }
    if (len == 2 && buf[0] == '-' && buf[1] == '0') {
      buf[0] = '0';
      len = 1;
    }
  }
  bulk(std::string_view(buf, static_cast<std::size_t>(len)));
}

}  // namespace resp
