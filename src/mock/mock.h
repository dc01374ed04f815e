/* mock.h - the built-in mock ACP agent (`sandbox-agent mock-agent-process`).
 *
 * A real ACP agent speaking newline-delimited JSON-RPC on stdin/stdout. It runs as its own
 * process, launched by the server through the same path as real agents. */
#ifndef MOCK_H
#define MOCK_H

/* Runs the agent until stdin reaches EOF; returns the process exit status. */
int mock_agent_main(int argc, char **argv);

#endif
