// conduit — everything: #include <conduit/conduit.h>
#pragma once

#include "conduit/delay.h"
#include "conduit/dispatcher.h"
#include "conduit/engine.h"
#include "conduit/inspect.h"
#include "conduit/message.h"
#include "conduit/options.h"
#include "conduit/reader.h"
#include "conduit/request_reply.h"
#include "conduit/status.h"
#include "conduit/trace.h"
