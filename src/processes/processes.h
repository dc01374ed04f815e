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

/* Start a managed process on behalf of another module (the desktop's apps): listed, logged
 * and controlled like any other, with the given owner ("desktop", "system"; static
 * storage). args holds the arguments after the command (NULL-terminated, may be NULL); env
 * the full environment (NULL = the server's). Both are copied. done(err, id, pid, ud) runs
 * on the loop exactly once: err 0 with the new process's id and pid, or a negative errno
 * when the spawn failed (id NULL). */
void processes_start_owned(const char *owner, const char *command, char *const *args,
                           char *const *env,
                           void (*done)(int err, const char *id, pid_t pid, void *ud), void *ud);
/* Stop every running process of an owner: TERM to each session, KILL after grace_ms; done(ud)
 * on the loop once none is running (at once when none was). One stop at a time per server:
 * a second call while one is in flight joins it. */
void processes_stop_owned(const char *owner, uint64_t grace_ms, void (*done)(void *ud), void *ud);

/* Register the routes and set up the module's state (one per server process). */
void processes_routes(http_server *srv, uv_loop_t *loop);

#endif
