/*
 * Known-answer driver for the tbgpool SHA-256 C sources, runnable on any
 * architecture (tests/c/run_arm_kat.sh builds it for AArch64 and runs it under
 * qemu to exercise the ARMv8 transform, which this x86-64 host cannot run).
 *
 * For every implementation available on the running CPU it checks FIPS 180-4
 * digests, a real block header, the genesis block through tbg_share_hash, and
 * agreement with the portable implementation on pseudo-random inputs.
 *
 * Usage: sha256_kat [--require NAME]...   (fails if NAME is not available)
 * Prints "implementation NAME: ok" per implementation; exits 0 when all pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static int failures;

static void check(int condition, const char *impl, const char *what)
{
    if (!condition) {
        printf("FAIL [%s] %s\n", impl, what);
        failures++;
    }
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t out_len)
{
    size_t i;

    if (strlen(hex) != 2 * out_len)
        return 0;
    for (i = 0; i < out_len; i++) {
        unsigned int byte;

        if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
            return 0;
        out[i] = (uint8_t)byte;
    }
    return 1;
}

/* Digest bytes equal the hex string read in display (byte-reversed) order. */
static int equals_display_hex(const uint8_t digest[32], const char *hex)
{
    uint8_t expected[32];
    size_t i;

    if (!hex_to_bytes(hex, expected, 32))
        return 0;
    for (i = 0; i < 32; i++)
        if (digest[i] != expected[31 - i])
            return 0;
    return 1;
}

static int equals_hex(const uint8_t digest[32], const char *hex)
{
    uint8_t expected[32];

    return hex_to_bytes(hex, expected, 32) && memcmp(digest, expected, 32) == 0;
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Deterministic xorshift64 so every run hashes the same "random" inputs. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint8_t next_byte(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 24);
}

static void fill_random(uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = next_byte();
}

static const char genesis_coinbase_hex[] =
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04"
    "ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e20"
    "6272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01"
    "000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4c"
    "ef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000";
#define GENESIS_COINBASE_LEN 204

static void check_fips(const char *impl)
{
    static uint8_t million_a[1000000];
    uint8_t digest[32];

    tbg_sha256((const uint8_t *)"abc", 3, digest);
    check(equals_hex(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          impl, "sha256(\"abc\")");
    tbg_sha256((const uint8_t *)"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
               digest);
    check(equals_hex(digest, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
          impl, "sha256(448-bit message)");
    tbg_sha256(NULL, 0, digest);
    check(equals_hex(digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
          impl, "sha256(\"\")");
    memset(million_a, 'a', sizeof million_a);
    tbg_sha256(million_a, sizeof million_a, digest);
    check(equals_hex(digest, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
          impl, "sha256(one million 'a')");
}

static void check_block_125552(const char *impl)
{
    uint8_t header[80];
    uint8_t prev[32], root[32], digest[32];
    size_t i;

    check(hex_to_bytes("00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81", prev, 32) &&
              hex_to_bytes("2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3", root, 32),
          impl, "block 125552 constants");
    store_le32(header, 1);
    for (i = 0; i < 32; i++) {
        header[4 + i] = prev[31 - i];
        header[36 + i] = root[31 - i];
    }
    store_le32(header + 68, 1305998791);
    store_le32(header + 72, 0x1a44b9f2);
    store_le32(header + 76, 2504433986u);
    tbg_sha256d(header, sizeof header, digest);
    check(equals_display_hex(digest, "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"),
          impl, "sha256d(block 125552 header)");
}

static void check_genesis_share(const char *impl)
{
    uint8_t coinbase[GENESIS_COINBASE_LEN];
    uint8_t prevhash[32] = {0};
    uint8_t digest[32];
    size_t cut;

    check(hex_to_bytes(genesis_coinbase_hex, coinbase, sizeof coinbase), impl, "genesis coinbase hex");
    for (cut = 0; cut + 12 <= sizeof coinbase; cut += 11) {
        int status = tbg_share_hash(coinbase, cut, coinbase + cut, 4, coinbase + cut + 4, 8,
                                    coinbase + cut + 12, sizeof coinbase - cut - 12, NULL, 0, 1,
                                    prevhash, 1231006505, 0x1d00ffff, 2083236893, digest);
        check(status == 0, impl, "tbg_share_hash(genesis) status");
        check(equals_display_hex(digest,
                                  "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
              impl, "tbg_share_hash(genesis)");
    }
}

struct random_share {
    uint8_t coinbase[400];
    size_t lens[4];
    uint8_t branch[32 * 12];
    size_t branch_count;
    uint8_t prevhash[32];
    uint32_t fields[4];
};

static void random_share(struct random_share *share)
{
    size_t i;

    fill_random(share->coinbase, sizeof share->coinbase);
    share->lens[0] = next_byte() % 150;
    share->lens[1] = next_byte() % 9;
    share->lens[2] = next_byte() % 9;
    share->lens[3] = next_byte() % 200;
    share->branch_count = next_byte() % 13;
    fill_random(share->branch, sizeof share->branch);
    fill_random(share->prevhash, sizeof share->prevhash);
    for (i = 0; i < 4; i++)
        share->fields[i] = (uint32_t)next_byte() << 24 | (uint32_t)next_byte() << 8 | next_byte();
}

static int hash_share(const struct random_share *s, uint8_t out[32])
{
    const uint8_t *p = s->coinbase;

    return tbg_share_hash(p, s->lens[0], p + s->lens[0], s->lens[1],
                          p + s->lens[0] + s->lens[1], s->lens[2],
                          p + s->lens[0] + s->lens[1] + s->lens[2], s->lens[3], s->branch,
                          s->branch_count, s->fields[0], s->prevhash, s->fields[1], s->fields[2],
                          s->fields[3], out);
}

/* The implementation under test agrees with "generic" on pseudo-random inputs. */
static void check_against_generic(int impl_id, const char *impl)
{
    static uint8_t data[4097];
    uint8_t mine[32], reference[32];
    size_t len;
    int i;

    fill_random(data, sizeof data);
    /* Every length up to 300 bytes, then a few multi-block ones up to 4 KiB. */
    for (len = 0; len < sizeof data; len = len < 300 ? len + 1 : len * 2 + 1) {
        tbg_sha256_use(impl_id);
        tbg_sha256(data, len, mine);
        tbg_sha256_use(TBG_SHA256_IMPL_GENERIC);
        tbg_sha256(data, len, reference);
        check(memcmp(mine, reference, 32) == 0, impl, "sha256 agrees with generic");
        /* From an odd address, to catch alignment assumptions in the loads. */
        tbg_sha256_use(impl_id);
        tbg_sha256d(data + 1, len, mine);
        tbg_sha256_use(TBG_SHA256_IMPL_GENERIC);
        tbg_sha256d(data + 1, len, reference);
        check(memcmp(mine, reference, 32) == 0, impl, "sha256d agrees with generic");
    }
    for (i = 0; i < 50; i++) {
        struct random_share share;

        random_share(&share);
        tbg_sha256_use(impl_id);
        check(hash_share(&share, mine) == 0, impl, "random share status");
        tbg_sha256_use(TBG_SHA256_IMPL_GENERIC);
        check(hash_share(&share, reference) == 0, impl, "random share status (generic)");
        check(memcmp(mine, reference, 32) == 0, impl, "share hash agrees with generic");
    }
    tbg_sha256_use(impl_id);
}

int main(int argc, char **argv)
{
    int selected = tbg_sha256_init();
    int impl_id, i;

    if (selected < 0) {
        printf("FAIL tbg_sha256_init: no implementation passes its self-test\n");
        return 1;
    }
    printf("selected: %s\n", tbg_sha256_impl_name(selected));

    for (i = 1; i < argc; i++) {
        int found = 0;

        if (strcmp(argv[i], "--require") != 0 || i + 1 >= argc) {
            fprintf(stderr, "usage: %s [--require NAME]...\n", argv[0]);
            return 2;
        }
        i++;
        for (impl_id = 0; impl_id < TBG_SHA256_IMPL_COUNT; impl_id++)
            if (strcmp(argv[i], tbg_sha256_impl_name(impl_id)) == 0)
                found = tbg_sha256_impl_available(impl_id);
        check(found, argv[i], "required implementation is available");
    }

    for (impl_id = 0; impl_id < TBG_SHA256_IMPL_COUNT; impl_id++) {
        const char *impl = tbg_sha256_impl_name(impl_id);
        int failures_before = failures;

        if (!tbg_sha256_impl_available(impl_id)) {
            printf("implementation %s: not available\n", impl);
            continue;
        }
        if (tbg_sha256_use(impl_id) != 0) {
            check(0, impl, "tbg_sha256_use (self-test)");
            continue;
        }
        check(tbg_sha256_current() == impl_id, impl, "tbg_sha256_current after use");
        check_fips(impl);
        check_block_125552(impl);
        check_genesis_share(impl);
        check_against_generic(impl_id, impl);
        printf("implementation %s: %s\n", impl, failures == failures_before ? "ok" : "FAILED");
    }

    printf("%s\n", failures == 0 ? "all known answers match" : "KNOWN-ANSWER FAILURES");
    return failures == 0 ? 0 : 1;
}
