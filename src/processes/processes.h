/* processes.h - the processes API (/v1/processes…): runtime limits, one-shot runs, managed
 * processes with pipe or PTY stdio, their logs (JSON and SSE follow), stdin input, terminal
 * resize and the terminal WebSocket.
 *
 * Every child leads its own session and process group; stop, kill and run timeouts reach
 * the whole session, and what is left of a session after its leader exits is killed.
 * Shutdown needs no call of its own: pipe children are terminated by proc_shutdown_all, and
 * PTY children are registered with proc_adopt_pid so that proc_shutdown_all reaches them
 * too. */
#ifndef PROCESSES_H
#define PROCESSES_H

#include <uv.h>

#include "http/http.h"

/* Register the routes and set up the module's state (one per server process). */
void processes_routes(http_server *srv, uv_loop_t *loop);

#endif
