/* output.c - the end of a tool's output on stdout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "output.h"

int output_finish(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    cli_error("cannot write the output: %s", strerror(errno));
    return -1;
}
