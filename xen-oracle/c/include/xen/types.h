/* Forwards to the oracle stub: see oracle.h. */
#include "oracle.h"
