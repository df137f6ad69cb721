#pragma once
#include "backend.h"
namespace portolan {
/// AWS security groups as Terraform JSON (.tf.json).
std::unique_ptr<Backend> make_aws_backend();
} // namespace portolan
