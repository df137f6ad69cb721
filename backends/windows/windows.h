#pragma once
#include "backend.h"
namespace portolan {
/// Windows Defender Firewall: a PowerShell script of New-NetFirewallRule calls.
std::unique_ptr<Backend> make_windows_backend();
} // namespace portolan
