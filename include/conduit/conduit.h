// conduit — everything: #include <conduit/conduit.h>
#pragma once

#include "conduit/dispatcher.h"
#include "conduit/engine.h"
#include "conduit/message.h"
#include "conduit/options.h"
#include "conduit/reader.h"
#include "conduit/status.h"
