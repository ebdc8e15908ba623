#include "CSpateCRC32C.h"
