#pragma once
namespace portolan {
inline constexpr const char* kPortolanVersion = "0.1.0";
}
