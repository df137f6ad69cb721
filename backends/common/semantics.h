// Moved to compiler/semantics.h; kept until every includer is updated.
#pragma once
#include "../../compiler/semantics.h"
