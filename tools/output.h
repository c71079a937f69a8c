/* output.h - the end of a tool's output on stdout. */
#ifndef SHMC_TOOLS_OUTPUT_H
#define SHMC_TOOLS_OUTPUT_H

/* Flush stdout and report (through cli_error) an error in writing it, such
 * as a full disk: a tool whose output was lost must not exit 0. Returns 0,
 * or -1 after the message. */
int output_finish(void);

#endif
