/*
 * Chooses the SHA-256 block transform once: detect what the CPU supports,
 * run a known-answer self-test on the candidate, fall back to the portable
 * transform if anything is missing or wrong.
 */
#include <string.h>

#include "sha256.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_SHA2
#define HWCAP_SHA2 (1UL << 6) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif
#endif

#if defined(__GNUC__)
#define LOAD_INT(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_INT(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#else
#define LOAD_INT(p) (*(volatile int *)(p))
#define STORE_INT(p, v) (*(volatile int *)(p) = (v))
#endif

#define NOT_SELECTED (-2)

static const char *const impl_names[TBG_SHA256_IMPL_COUNT] = {
    "generic",
    "sha-ni",
    "armv8-crypto",
};

/* NULL where an implementation is not compiled for this architecture. */
static const tbg_sha256_transform_fn impl_transforms[TBG_SHA256_IMPL_COUNT] = {
    tbg_sha256_transform_generic,
#if defined(__x86_64__)
    tbg_sha256_transform_shani,
#else
    NULL,
#endif
#if defined(__aarch64__)
    tbg_sha256_transform_armv8,
#else
    NULL,
#endif
};

/* Read on every hash; written only by tbg_sha256_init and tbg_sha256_use. */
static int current_impl = TBG_SHA256_IMPL_GENERIC;
static int selected_impl = NOT_SELECTED;

#if defined(__x86_64__)
static int x86_cpu_has_shani(void)
{
    const unsigned int ecx_ssse3 = 1U << 9;   /* CPUID.1:ECX */
    const unsigned int ecx_sse41 = 1U << 19;  /* CPUID.1:ECX */
    const unsigned int ebx_sha = 1U << 29;    /* CPUID.(7,0):EBX */
    unsigned int eax, ebx, ecx, edx;

    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return 0;
    if ((ecx & ecx_ssse3) == 0 || (ecx & ecx_sse41) == 0)
        return 0;
    /* __get_cpuid_count fails when leaf 7 is above the CPU's maximum leaf. */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    return (ebx & ebx_sha) != 0;
}
#endif

#if defined(__aarch64__)
static int arm_cpu_has_sha2(void)
{
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_SHA2) != 0;
#elif defined(__APPLE__)
    /* Every Apple arm64 core (A7 onwards) implements the SHA-256 instructions. */
    return 1;
#else
    return 0;
#endif
}
#endif

static int cpu_supports(int impl)
{
    switch (impl) {
    case TBG_SHA256_IMPL_GENERIC:
        return 1;
#if defined(__x86_64__)
    case TBG_SHA256_IMPL_SHANI:
        return x86_cpu_has_shani();
#endif
#if defined(__aarch64__)
    case TBG_SHA256_IMPL_ARMV8:
        return arm_cpu_has_sha2();
#endif
    default:
        return 0;
    }
}

static int impl_known(int impl)
{
    return impl >= 0 && impl < TBG_SHA256_IMPL_COUNT;
}

/* ---- known-answer self-test -------------------------------------------- */

struct known_answer {
    const char *message;
    uint8_t digest[32];
};

/* FIPS 180-4 example messages (and the empty string) with their digests. */
static const struct known_answer fips_vectors[] = {
    {"",
     {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
      0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55}},
    {"abc",
     {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
      0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad}},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     {0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
      0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1}},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     {0xcf, 0x5b, 0x16, 0xa7, 0x78, 0xaf, 0x83, 0x80, 0x03, 0x6c, 0xe5, 0x9e, 0x7b, 0x04, 0x92, 0x37,
      0x0b, 0x24, 0x9b, 0x11, 0xe8, 0xf0, 0x7a, 0x51, 0xaf, 0xac, 0x45, 0x03, 0x7a, 0xfe, 0xe9, 0xd1}},
};

/* SHA-256 of the 1000 bytes (7 * i + 3) mod 256: fifteen blocks in one transform call. */
#define PATTERN_LEN 1000
static const uint8_t pattern_digest[32] = {
    0x1e, 0x9b, 0xc3, 0x8c, 0xbf, 0x86, 0x0b, 0x9e, 0xc3, 0x19, 0x18, 0xb0, 0x65, 0xf9, 0xb5, 0x24,
    0x76, 0xc5, 0x49, 0xa7, 0x82, 0xe0, 0xe7, 0x99, 0x0b, 0xed, 0x8c, 0xe3, 0x86, 0x8d, 0x23, 0x71,
};

static int digest_matches(tbg_sha256_transform_fn transform, const uint8_t *data, size_t len,
                          const uint8_t expected[32])
{
    tbg_sha256_ctx ctx;
    uint8_t digest[32];

    tbg_sha256_ctx_init(&ctx, transform);
    tbg_sha256_ctx_update(&ctx, data, len);
    tbg_sha256_ctx_final(&ctx, digest);
    return memcmp(digest, expected, 32) == 0;
}

static int self_test(tbg_sha256_transform_fn transform)
{
    /* One spare byte so the pattern can also be hashed from an odd address. */
    uint8_t pattern[PATTERN_LEN + 1];
    size_t i;

    for (i = 0; i < sizeof fips_vectors / sizeof fips_vectors[0]; i++) {
        const char *message = fips_vectors[i].message;

        if (!digest_matches(transform, (const uint8_t *)message, strlen(message),
                            fips_vectors[i].digest))
            return 0;
    }
    for (i = 0; i < PATTERN_LEN; i++)
        pattern[i] = (uint8_t)(7 * i + 3);
    if (!digest_matches(transform, pattern, PATTERN_LEN, pattern_digest))
        return 0;
    memmove(pattern + 1, pattern, PATTERN_LEN);
    return digest_matches(transform, pattern + 1, PATTERN_LEN, pattern_digest);
}

/* ---- public API --------------------------------------------------------- */

const char *tbg_sha256_impl_name(int impl)
{
    return impl_known(impl) ? impl_names[impl] : NULL;
}

int tbg_sha256_impl_available(int impl)
{
    return impl_known(impl) && impl_transforms[impl] != NULL && cpu_supports(impl);
}

int tbg_sha256_current(void)
{
    return LOAD_INT(&current_impl);
}

tbg_sha256_transform_fn tbg_sha256_current_transform(void)
{
    return impl_transforms[LOAD_INT(&current_impl)];
}

int tbg_sha256_use(int impl)
{
    if (!tbg_sha256_impl_available(impl) || !self_test(impl_transforms[impl]))
        return -1;
    STORE_INT(&current_impl, impl);
    return 0;
}

int tbg_sha256_init(void)
{
    /* Fastest first; the portable transform is the last resort. */
    static const int preference[] = {TBG_SHA256_IMPL_SHANI, TBG_SHA256_IMPL_ARMV8};
    int selected = LOAD_INT(&selected_impl);
    size_t i;

    if (selected != NOT_SELECTED)
        return selected;

    /* Two threads racing here compute the same answer, so both stores agree. */
    selected = -1;
    if (self_test(tbg_sha256_transform_generic)) {
        selected = TBG_SHA256_IMPL_GENERIC;
        for (i = 0; i < sizeof preference / sizeof preference[0]; i++) {
            int impl = preference[i];

            if (tbg_sha256_impl_available(impl) && self_test(impl_transforms[impl])) {
                selected = impl;
                break;
            }
        }
        STORE_INT(&current_impl, selected);
    }
    STORE_INT(&selected_impl, selected);
    return selected;
}
