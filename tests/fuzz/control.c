// SPDX-License-Identifier: Apache-2.0
// The control socket's frames as a hostile local client writes them (length-prefixed
// protobuf-c Requests; Responses for the client side): read through the real control_recv from
// a pipe. The objects of an ApplyRequest go on to the manifest parser, as the controller does.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "fuzz.h"
#include "log.h"
#include "objmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	log_state.max_level = LOG_CRIT;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		abort();
	/* room for the whole input, so one thread can write it all before reading */
	if (fcntl(fds[1], F_SETPIPE_SZ, (int)(size < 4096 ? 4096 : size)) < 0 && size > 65536) {
		close(fds[0]);
		close(fds[1]);
		return 0;
	}
	if (write(fds[1], data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(fds[1]);
	const ProtobufCMessageDescriptor *desc =
	    data[0] & 1 ? &weir__response__descriptor : &weir__request__descriptor;
	ProtobufCMessage *m;
	while (control_recv(fds[0], desc, &m) == 0) {
		if (desc == &weir__request__descriptor) {
			Weir__Request *req = (Weir__Request *)m;
			if (req->body_case == WEIR__REQUEST__BODY_APPLY && req->apply) {
				for (size_t i = 0; i < req->apply->n_objects; i++) {
					struct objmodel_list *l = NULL;
					char err[256];
					const char *o = req->apply->objects[i];
					if (objmodel_parse_buffer("fuzz", o, strlen(o), &l, err,
								  sizeof(err)) >= 0)
						objmodel_list_free(l);
				}
			}
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	close(fds[0]);
	return 0;
}
