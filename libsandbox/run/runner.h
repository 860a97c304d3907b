// One execution end to end: validate, bundle, caps, launch runsc, capture,
// decide the status, collect files, tear everything down.
#ifndef LIBSANDBOX_RUN_RUNNER_H_
#define LIBSANDBOX_RUN_RUNNER_H_

#include "libsandbox/proto/config.pb.h"

namespace libsandbox {

// `config` must already be resolved (see ResolvedConfig).
Result RunOnce(const RunRequest& request, const Config& config);

}  // namespace libsandbox

#endif  // LIBSANDBOX_RUN_RUNNER_H_
