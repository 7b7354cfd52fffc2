/*
 * Memory-safety harness for the tbgpool SHA-256 C sources, built by
 * tools/sanitize.sh with AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * Every buffer handed to the code under test is its own heap allocation of
 * exactly the size the API is told, with the data ending at the allocation's
 * last byte (starting at a random misalignment), so reading or writing even
 * one byte past an input or output lands in an ASan redzone. For every
 * implementation available on the running CPU it checks known answers, then
 * compares tbg_sha256, tbg_sha256d, the streaming context (random split
 * points) and tbg_share_hash on random lengths 0..4096 with a reference
 * SHA-256 written here independently: byte-at-a-time, with its round
 * constants computed from the prime roots of FIPS 180-4 section 4.2.2 rather
 * than copied from a table. Finally it calls the API with NULL pointers and
 * lengths past the caps, which must be refused without touching memory.
 *
 * Usage: sha256_sanitize [--seed N] [--rounds N] [--require NAME]...
 * Exits 0 when everything matches, 1 on a mismatch, 2 on bad usage or a
 * reference that fails its own known answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

#define DIGEST_BYTES 32
#define MAX_RANDOM_LEN 4096

static int failures;

static void check(int condition, const char *impl, const char *what, size_t detail)
{
    if (!condition) {
        printf("FAIL [%s] %s (%zu)\n", impl, what, detail);
        failures++;
    }
}

/* ---- deterministic randomness ------------------------------------------ */

static uint64_t rng_state;

static uint64_t next_u64(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Uniform enough in 0..bound inclusive for test-case selection. */
static size_t random_upto(size_t bound)
{
    return (size_t)(next_u64() % ((uint64_t)bound + 1));
}

static void fill_random(uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = (uint8_t)(next_u64() >> 56);
}

/* ---- exact-size heap buffers ------------------------------------------- */

/*
 * A heap copy of `len` bytes whose last byte is the allocation's last byte,
 * starting `skew` bytes into the allocation so loads are also misaligned.
 * *base receives the pointer to free.
 */
static uint8_t *exact_copy(const uint8_t *data, size_t len, size_t skew, void **base)
{
    uint8_t *block = malloc(len + skew);

    if (block == NULL && len + skew != 0) {
        printf("FAIL out of memory\n");
        exit(1);
    }
    *base = block;
    if (block == NULL)
        return NULL;
    if (len > 0)
        memcpy(block + skew, data, len);
    return block + skew;
}

static void *checked_malloc(size_t len)
{
    void *p = malloc(len);

    if (p == NULL) {
        printf("FAIL out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- the independent reference ----------------------------------------- */

static uint32_t ref_k[64];
static uint32_t ref_iv[8];

/* floor(cbrt(n)) for n < 2^108, by bisection (x^3 then fits in 128 bits). */
static uint64_t icbrt128(unsigned __int128 n)
{
    uint64_t low = 0, high = (uint64_t)1 << 36;

    while (high - low > 1) {
        uint64_t mid = low + (high - low) / 2;
        unsigned __int128 cube = (unsigned __int128)mid * mid * mid;

        if (cube <= n)
            low = mid;
        else
            high = mid;
    }
    return low;
}

/* floor(sqrt(n)) for n < 2^72. */
static uint64_t isqrt128(unsigned __int128 n)
{
    uint64_t low = 0, high = (uint64_t)1 << 36;

    while (high - low > 1) {
        uint64_t mid = low + (high - low) / 2;

        if ((unsigned __int128)mid * mid <= n)
            low = mid;
        else
            high = mid;
    }
    return low;
}

/*
 * K[i]: the first 32 bits of the fractional part of the cube root of the i-th
 * prime, i.e. floor(cbrt(p * 2^96)) mod 2^32; IV[i] likewise from square roots.
 */
static void ref_derive_constants(void)
{
    unsigned primes[64];
    unsigned count = 0, candidate, d;

    for (candidate = 2; count < 64; candidate++) {
        int prime = 1;

        for (d = 2; d * d <= candidate; d++)
            if (candidate % d == 0)
                prime = 0;
        if (prime)
            primes[count++] = candidate;
    }
    for (d = 0; d < 64; d++)
        ref_k[d] = (uint32_t)icbrt128((unsigned __int128)primes[d] << 96);
    for (d = 0; d < 8; d++)
        ref_iv[d] = (uint32_t)isqrt128((unsigned __int128)primes[d] << 64);
}

struct ref_state {
    uint32_t h[8];
    uint8_t block[64];
    unsigned fill;
};

static uint32_t ref_rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void ref_compress(struct ref_state *s)
{
    uint32_t w[64], v[8], t1, t2;
    unsigned i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)s->block[4 * i] << 24 | (uint32_t)s->block[4 * i + 1] << 16 |
               (uint32_t)s->block[4 * i + 2] << 8 | s->block[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ref_rotr(w[i - 15], 7) ^ ref_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ref_rotr(w[i - 2], 17) ^ ref_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, s->h, sizeof v);
    for (i = 0; i < 64; i++) {
        t1 = v[7] + (ref_rotr(v[4], 6) ^ ref_rotr(v[4], 11) ^ ref_rotr(v[4], 25)) +
             ((v[4] & v[5]) ^ (~v[4] & v[6])) + ref_k[i] + w[i];
        t2 = (ref_rotr(v[0], 2) ^ ref_rotr(v[0], 13) ^ ref_rotr(v[0], 22)) +
             ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++)
        s->h[i] += v[i];
}

static void ref_byte(struct ref_state *s, uint8_t byte)
{
    s->block[s->fill++] = byte;
    if (s->fill == 64) {
        ref_compress(s);
        s->fill = 0;
    }
}

static void ref_sha256(const uint8_t *data, size_t len, uint8_t out[DIGEST_BYTES])
{
    struct ref_state s;
    uint64_t bit_len = (uint64_t)len * 8;
    size_t i;

    memcpy(s.h, ref_iv, sizeof s.h);
    s.fill = 0;
    for (i = 0; i < len; i++)
        ref_byte(&s, data[i]);
    ref_byte(&s, 0x80);
    while (s.fill != 56)
        ref_byte(&s, 0);
    for (i = 0; i < 8; i++)
        ref_byte(&s, (uint8_t)(bit_len >> (56 - 8 * i)));
    for (i = 0; i < 32; i++)
        out[i] = (uint8_t)(s.h[i / 4] >> (24 - 8 * (i % 4)));
}

static void ref_sha256d(const uint8_t *data, size_t len, uint8_t out[DIGEST_BYTES])
{
    uint8_t first[DIGEST_BYTES];

    ref_sha256(data, len, first);
    ref_sha256(first, sizeof first, out);
}

/* ---- known answers ------------------------------------------------------ */

static int hex_digest(const char *hex, uint8_t out[DIGEST_BYTES])
{
    size_t i;

    if (strlen(hex) != 2 * DIGEST_BYTES)
        return 0;
    for (i = 0; i < DIGEST_BYTES; i++) {
        unsigned byte;

        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return 0;
        out[i] = (uint8_t)byte;
    }
    return 1;
}

struct known_answer {
    const char *message;
    int double_hash;
    const char *digest_hex;
};

static const struct known_answer known_answers[] = {
    {"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 0, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopq"
     "rsmnopqrstnopqrstu",
     0, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"", 1, "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"},
    {"abc", 1, "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358"},
};

/* The reference itself must reproduce the FIPS 180-4 answers before it judges anything. */
static int reference_is_sound(void)
{
    size_t i;

    for (i = 0; i < sizeof known_answers / sizeof known_answers[0]; i++) {
        const struct known_answer *ka = &known_answers[i];
        uint8_t expected[DIGEST_BYTES], got[DIGEST_BYTES];

        if (!hex_digest(ka->digest_hex, expected))
            return 0;
        if (ka->double_hash)
            ref_sha256d((const uint8_t *)ka->message, strlen(ka->message), got);
        else
            ref_sha256((const uint8_t *)ka->message, strlen(ka->message), got);
        if (memcmp(got, expected, DIGEST_BYTES) != 0)
            return 0;
    }
    return 1;
}

static void check_known_answers(const char *impl)
{
    size_t i;

    for (i = 0; i < sizeof known_answers / sizeof known_answers[0]; i++) {
        const struct known_answer *ka = &known_answers[i];
        size_t len = strlen(ka->message);
        uint8_t expected[DIGEST_BYTES];
        void *data_base;
        const uint8_t *data = exact_copy((const uint8_t *)ka->message, len, 0, &data_base);
        uint8_t *out = checked_malloc(DIGEST_BYTES);

        hex_digest(ka->digest_hex, expected);
        if (ka->double_hash)
            tbg_sha256d(data, len, out);
        else
            tbg_sha256(data, len, out);
        check(memcmp(out, expected, DIGEST_BYTES) == 0, impl, "known answer", i);
        free(out);
        free(data_base);
    }
}

/* ---- random comparisons ------------------------------------------------- */

static void compare_one_shot(const char *impl, const uint8_t *source, size_t len)
{
    uint8_t expected[DIGEST_BYTES], expected_d[DIGEST_BYTES];
    void *data_base;
    const uint8_t *data = exact_copy(source, len, random_upto(15), &data_base);
    uint8_t *out = checked_malloc(DIGEST_BYTES);

    ref_sha256(source, len, expected);
    ref_sha256d(source, len, expected_d);
    tbg_sha256(data, len, out);
    check(memcmp(out, expected, DIGEST_BYTES) == 0, impl, "tbg_sha256 vs reference, length", len);
    tbg_sha256d(data, len, out);
    check(memcmp(out, expected_d, DIGEST_BYTES) == 0, impl, "tbg_sha256d vs reference, length",
          len);
    free(out);
    free(data_base);
}

/* Feed the message in random pieces (each its own exact allocation). */
static void compare_streaming(const char *impl, const uint8_t *source, size_t len)
{
    uint8_t expected[DIGEST_BYTES];
    uint8_t *out = checked_malloc(DIGEST_BYTES);
    tbg_sha256_ctx *ctx = checked_malloc(sizeof *ctx);
    size_t done = 0;

    ref_sha256(source, len, expected);
    tbg_sha256_ctx_init(ctx, tbg_sha256_current_transform());
    while (done < len) {
        /* Mostly short pieces around the 64-byte block, sometimes a long run. */
        size_t piece = next_u64() % 8 == 0 ? random_upto(len - done) : random_upto(130);
        void *piece_base;
        const uint8_t *data;

        if (piece > len - done)
            piece = len - done;
        data = exact_copy(source + done, piece, random_upto(15), &piece_base);
        tbg_sha256_ctx_update(ctx, data, piece);
        free(piece_base);
        done += piece;
    }
    tbg_sha256_ctx_final(ctx, out);
    check(memcmp(out, expected, DIGEST_BYTES) == 0, impl, "streaming vs reference, length", len);
    free(ctx);
    free(out);
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* One random share through tbg_share_hash, every piece in its own exact allocation. */
static void compare_share(const char *impl)
{
    enum { COINB1, EN1, EN2, COINB2, BRANCH, PREVHASH, PIECES };
    const size_t max_len[PIECES] = {300, 16, 16, 400, 32 * TBG_SHARE_MAX_BRANCH_COUNT, 32};
    uint8_t *source[PIECES];
    const uint8_t *arg[PIECES];
    void *base[PIECES];
    size_t len[PIECES];
    uint8_t root[DIGEST_BYTES], header[80], expected[DIGEST_BYTES];
    uint8_t *coinbase, *node, *out = checked_malloc(DIGEST_BYTES);
    uint32_t field[4];
    size_t i, coinbase_len = 0, branch_count = random_upto(TBG_SHARE_MAX_BRANCH_COUNT);
    int status;

    for (i = 0; i < PIECES; i++) {
        len[i] = i == BRANCH ? 32 * branch_count : i == PREVHASH ? 32 : random_upto(max_len[i]);
        source[i] = checked_malloc(len[i] + 1);
        fill_random(source[i], len[i]);
        /* An empty piece is passed as NULL now and then, which the API allows. */
        if (len[i] == 0 && next_u64() % 2 == 0) {
            arg[i] = NULL;
            base[i] = NULL;
        } else {
            arg[i] = exact_copy(source[i], len[i], random_upto(15), &base[i]);
        }
    }
    for (i = 0; i < 4; i++)
        field[i] = (uint32_t)next_u64();

    /* The reference: concatenate, hash, fold the branch, build the header, hash. */
    coinbase = checked_malloc(len[COINB1] + len[EN1] + len[EN2] + len[COINB2] + 1);
    for (i = COINB1; i <= COINB2; i++) {
        memcpy(coinbase + coinbase_len, source[i], len[i]);
        coinbase_len += len[i];
    }
    ref_sha256d(coinbase, coinbase_len, root);
    node = checked_malloc(64);
    for (i = 0; i < branch_count; i++) {
        memcpy(node, root, 32);
        memcpy(node + 32, source[BRANCH] + 32 * i, 32);
        ref_sha256d(node, 64, root);
    }
    store_le32(header, field[0]);
    memcpy(header + 4, source[PREVHASH], 32);
    memcpy(header + 36, root, 32);
    store_le32(header + 68, field[1]);
    store_le32(header + 72, field[2]);
    store_le32(header + 76, field[3]);
    ref_sha256d(header, sizeof header, expected);

    status = tbg_share_hash(arg[COINB1], len[COINB1], arg[EN1], len[EN1], arg[EN2], len[EN2],
                            arg[COINB2], len[COINB2], arg[BRANCH], branch_count, field[0],
                            arg[PREVHASH], field[1], field[2], field[3], out);
    check(status == 0, impl, "tbg_share_hash status, branch count", branch_count);
    check(memcmp(out, expected, DIGEST_BYTES) == 0, impl,
          "tbg_share_hash vs reference, coinbase length", coinbase_len);

    for (i = 0; i < PIECES; i++) {
        free(base[i]);
        free(source[i]);
    }
    free(node);
    free(coinbase);
    free(out);
}

/* Refusals: NULL pointers and lengths past the caps never reach memory. */
static void check_refusals(const char *impl)
{
    const size_t cap = TBG_SHARE_MAX_COINBASE_BYTES;
    uint8_t *small = checked_malloc(8);
    uint8_t *prevhash = checked_malloc(32);
    uint8_t *out = checked_malloc(DIGEST_BYTES);
    uint8_t zeros[DIGEST_BYTES] = {0};
    size_t i;

    memset(small, 1, 8);
    memset(prevhash, 2, 32);
    memset(out, 0xAA, DIGEST_BYTES);
    check(tbg_share_hash(small, 8, small, 8, small, 8, small, 8, small,
                         TBG_SHARE_MAX_BRANCH_COUNT + 1, 1, prevhash, 2, 3, 4, out) == -1,
          impl, "branch count over the cap refused", 0);
    check(tbg_share_hash(small, cap, small, 1, NULL, 0, NULL, 0, NULL, 0, 1, prevhash, 2, 3, 4,
                         out) == -1,
          impl, "coinbase over the cap refused", 0);
    check(tbg_share_hash(small, SIZE_MAX, small, 2, NULL, 0, NULL, 0, NULL, 0, 1, prevhash, 2, 3,
                         4, out) == -1,
          impl, "wrapping coinbase length refused", 0);
    check(tbg_share_hash(NULL, 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 1, prevhash, 2, 3, 4,
                         out) == -1,
          impl, "NULL coinb1 with a length refused", 0);
    check(tbg_share_hash(small, 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 1, NULL, 2, 3, 4, out) ==
              -1,
          impl, "NULL prevhash refused", 0);
    check(tbg_share_hash(small, 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 1, prevhash, 2, 3, 4,
                         NULL) == -1,
          impl, "NULL out refused", 0);
    for (i = 0; i < DIGEST_BYTES; i++)
        check(out[i] == 0xAA, impl, "refused share leaves out untouched, byte", i);

    tbg_sha256(NULL, 12345, out);
    check(memcmp(out, zeros, DIGEST_BYTES) == 0, impl, "tbg_sha256(NULL, n) zero-fills", 0);
    tbg_sha256(small, 8, NULL);
    tbg_sha256d(small, 8, NULL);
    free(out);
    free(prevhash);
    free(small);
}

static void run_implementation(int impl_id, size_t rounds)
{
    const char *impl = tbg_sha256_impl_name(impl_id);
    uint8_t *message = checked_malloc(MAX_RANDOM_LEN);
    int failures_before = failures;
    size_t len, i;

    if (tbg_sha256_use(impl_id) != 0) {
        check(0, impl, "tbg_sha256_use (self-test)", 0);
        free(message);
        return;
    }
    check(tbg_sha256_current() == impl_id, impl, "tbg_sha256_current after use", 0);
    check_known_answers(impl);
    fill_random(message, MAX_RANDOM_LEN);
    /* Every length through the first two blocks' padding edges, then random ones. */
    for (len = 0; len <= 200; len++)
        compare_one_shot(impl, message, len);
    compare_one_shot(impl, message, MAX_RANDOM_LEN - 1);
    compare_one_shot(impl, message, MAX_RANDOM_LEN);
    for (i = 0; i < rounds; i++) {
        len = random_upto(MAX_RANDOM_LEN);
        fill_random(message, len);
        compare_one_shot(impl, message, len);
        compare_streaming(impl, message, len);
    }
    for (i = 0; i < rounds / 4 + 1; i++)
        compare_share(impl);
    check_refusals(impl);
    printf("implementation %s: %s\n", impl, failures == failures_before ? "ok" : "FAILED");
    free(message);
}

static int parse_size(const char *text, size_t *value)
{
    char *end;
    unsigned long long parsed = strtoull(text, &end, 0);

    if (*text == '\0' || *end != '\0')
        return 0;
    *value = (size_t)parsed;
    return 1;
}

int main(int argc, char **argv)
{
    size_t seed = 0x7467627053616eULL, rounds = 1500;
    int selected, impl_id, i;

    ref_derive_constants();
    if (!reference_is_sound()) {
        printf("FAIL the reference SHA-256 does not reproduce the FIPS 180-4 answers\n");
        return 2;
    }
    selected = tbg_sha256_init();
    if (selected < 0) {
        printf("FAIL tbg_sha256_init: no implementation passes its self-test\n");
        return 1;
    }

    for (i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "usage: %s [--seed N] [--rounds N] [--require NAME]...\n", argv[0]);
            return 2;
        }
        if (strcmp(argv[i], "--seed") == 0 && parse_size(argv[i + 1], &seed)) {
            i++;
        } else if (strcmp(argv[i], "--rounds") == 0 && parse_size(argv[i + 1], &rounds)) {
            i++;
        } else if (strcmp(argv[i], "--require") == 0) {
            int found = 0;

            i++;
            for (impl_id = 0; impl_id < TBG_SHA256_IMPL_COUNT; impl_id++)
                if (strcmp(argv[i], tbg_sha256_impl_name(impl_id)) == 0)
                    found = tbg_sha256_impl_available(impl_id);
            check(found, argv[i], "required implementation is available", 0);
        } else {
            fprintf(stderr, "usage: %s [--seed N] [--rounds N] [--require NAME]...\n", argv[0]);
            return 2;
        }
    }
    rng_state = (uint64_t)seed | 1;
    printf("selected: %s; seed %zu, %zu random lengths per implementation\n",
           tbg_sha256_impl_name(selected), seed, rounds);

    for (impl_id = 0; impl_id < TBG_SHA256_IMPL_COUNT; impl_id++) {
        if (!tbg_sha256_impl_available(impl_id)) {
            printf("implementation %s: not available\n", tbg_sha256_impl_name(impl_id));
            continue;
        }
        run_implementation(impl_id, rounds);
    }
    tbg_sha256_use(selected);

    printf("%s\n", failures == 0 ? "all implementations match the reference" : "MISMATCHES");
    return failures == 0 ? 0 : 1;
}
