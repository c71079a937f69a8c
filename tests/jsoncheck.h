/* jsoncheck.h - a strict JSON parser (RFC 8259) for tests that check a
 * tool's JSON output without a JSON library: it accepts exactly one object
 * and keeps its members; nested objects and arrays are checked but not
 * kept. */
#ifndef SHMC_JSONCHECK_H
#define SHMC_JSONCHECK_H

#include <stddef.h>

enum jc_type { JC_NULL, JC_BOOL, JC_NUMBER, JC_STRING, JC_OBJECT, JC_ARRAY };

struct jc_member {
    char name[64];
    enum jc_type type;
    /* A number's text as written; a string's value with its escapes
     * decoded (a \u escape beyond ASCII becomes '?'); empty otherwise.
     * Cut to fit. */
    char text[512];
};

#define JC_MAX_MEMBERS 128

struct jc_object {
    struct jc_member members[JC_MAX_MEMBERS];
    size_t count;
};

/* Parse the len bytes of text, which must be one JSON object and nothing
 * else but white space, with no member named twice. Returns 0, or -1 with
 * the reason and its offset in err. */
int jc_parse_object(const char *text, size_t len, struct jc_object *out,
                    char *err, size_t errlen);

/* The member called name, or NULL. */
const struct jc_member *jc_member(const struct jc_object *o,
                                  const char *name);

#endif
