/* SHA-256 alone (the dependency cache's key hash): pure C, no Python, runs
 * once. FIPS 180-2 appendix B vectors, the padding edges (55, 56, 63, 64,
 * 65, 119, 120, 128 bytes) against digests computed by Python's hashlib,
 * and chunked updates that must equal one-shot hashing. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "loader/sha256.h"

static void hash(const void *data, size_t len, char hex[65])
{
    pys__sha256 s;
    pys__sha256_init(&s);
    pys__sha256_update(&s, data, len);
    pys__sha256_final_hex(&s, hex);
}

static void hash_chunked(const unsigned char *data, size_t len, size_t chunk, char hex[65])
{
    pys__sha256 s;
    pys__sha256_init(&s);
    for (size_t off = 0; off < len; off += chunk)
        pys__sha256_update(&s, data + off, len - off < chunk ? len - off : chunk);
    pys__sha256_final_hex(&s, hex);
}

static unsigned char msg[1000];

static void fill_msg(void)
{
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)((i * 31 + 7) & 255);
}

Test(sha256, empty)
{
    char hex[65];
    hash("", 0, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* No update call at all is the same message. */
    pys__sha256 s;
    pys__sha256_init(&s);
    pys__sha256_final_hex(&s, hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(sha256, abc)
{
    char hex[65];
    hash("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, two_block_448_bit_message)
{
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cr_assert_eq(strlen(m), 56);
    char hex[65];
    hash(m, strlen(m), hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, one_million_a)
{
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    size_t n = 1000000;
    unsigned char *a = malloc(n);
    cr_assert_not_null(a);
    memset(a, 'a', n);
    char hex[65];
    hash(a, n, hex);
    cr_assert_str_eq(hex, want, "one-shot");
    /* The same million in 1000 updates of 1000 bytes (not block-aligned). */
    hash_chunked(a, n, 1000, hex);
    cr_assert_str_eq(hex, want, "1000-byte chunks");
    free(a);
}

Test(sha256, padding_edges)
{
    static const struct {
        size_t n;
        const char *hex;
    } v[] = {
        {55, "8aa994584139d128848eeebc4e815639ba5ab6e6e39574195a63ac4f14f7c43b"},
        {56, "ad574708f75c044c9b85de64cb568ee7711ff4f36448c6242f053ba8f6cc2b63"},
        {63, "280ed3e8ff1df845b2e7dfe6ac6cee817bef20e783cc65abc41b818b4d2fe076"},
        {64, "c6ab9724ade5b6a7a1edfffb12f3aa9181351355af8fd08c919952ad211339dd"},
        {65, "788367c73c7ddf4c53f65e68cc0d943e6227ab55b0e78ba63ace822b1c6301c0"},
        {119, "3d610547d68216dedf7435a4fb6260353911f6b3fd3f18805ddb8be285d726fe"},
        {120, "1f80156a804cb7862ad113e8200e9d74499723e7c7854d5f48776d3148e09656"},
        {128, "cc548ca2dec1f6fe4f58b2e27aa9c7521607df1130d140b55a4dad0665302356"},
        {1000, "5097e7d587352f5097062ae679f37bda5802d9f875aba14c8cb4d1a188ada179"},
    };
    fill_msg();
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char hex[65];
        hash(msg, v[i].n, hex);
        cr_assert_str_eq(hex, v[i].hex, "%zu bytes", v[i].n);
    }
}

Test(sha256, chunked_updates_equal_one_shot)
{
    static const size_t chunks[] = {1, 2, 3, 7, 55, 56, 63, 64, 65, 127, 128, 129, 999};
    fill_msg();
    char one[65];
    hash(msg, sizeof msg, one);
    cr_assert_str_eq(one, "5097e7d587352f5097062ae679f37bda5802d9f875aba14c8cb4d1a188ada179");
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        char hex[65];
        hash_chunked(msg, sizeof msg, chunks[i], hex);
        cr_assert_str_eq(hex, one, "chunks of %zu", chunks[i]);
    }
    /* Uneven pieces whose boundaries straddle block ends, and empty updates. */
    static const size_t cuts[] = {0, 0, 10, 64, 64, 70, 191, 192, 193, 500, 1000};
    pys__sha256 s;
    pys__sha256_init(&s);
    for (size_t i = 1; i < sizeof cuts / sizeof *cuts; i++)
        pys__sha256_update(&s, msg + cuts[i - 1], cuts[i] - cuts[i - 1]);
    char hex[65];
    pys__sha256_final_hex(&s, hex);
    cr_assert_str_eq(hex, one, "uneven pieces");
}

Test(sha256, distinct_inputs_differ)
{
    char a[65], b[65];
    hash("abc", 3, a);
    hash("abd", 3, b);
    cr_assert_str_neq(a, b);
    cr_assert_eq(strlen(a), 64);
    for (size_t i = 0; i < 64; i++)
        cr_assert(strchr("0123456789abcdef", a[i]) != NULL, "lowercase hex");
}
