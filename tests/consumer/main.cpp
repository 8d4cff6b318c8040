// Links against an installed conduit through find_package(conduit).
#include <conduit/status.h>

#include <cstdio>

int main() {
  const conduit::Status status = conduit::Status::InvalidArgument("x");
  std::printf("%s\n", status.to_string().c_str());
  return status.ok() ? 1 : 0;
}
