/* lua_crypto.c -- hm.crypto: digests, HMAC, encodings and randomness.
 *
 * Nothing here holds a C allocation across a Lua call: fixed-size results
 * live on the C stack and variable-size ones are built in a Lua userdata
 * scratch buffer (collected by Lua), so a raise cannot leak. */
#include "hotelmux/lua_crypto.h"
#include "hotelmux/common.h"

#include <lauxlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

/* Scratch space owned by the Lua GC; it stays on the stack until return. */
static unsigned char *scratch(lua_State *L, size_t n)
{
    return lua_newuserdata(L, n ? n : 1);
}

static int push_nil_err(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 15];
    }
}

/* Push raw bytes, or their hex form when hex is set. n <= EVP_MAX_MD_SIZE. */
static void push_bytes(lua_State *L, const unsigned char *p, size_t n, int hex)
{
    if (!hex) {
        lua_pushlstring(L, (const char *)p, n);
        return;
    }
    char buf[2 * EVP_MAX_MD_SIZE];
    hex_encode(p, n, buf);
    lua_pushlstring(L, buf, 2 * n);
}

/* --- digests and HMAC --------------------------------------------------- */

/* Upvalue 1: which algorithm (index into md_by_id), upvalue 2: hex flag.
 * The algorithms are fetched once: EVP_Digest with EVP_sha256() and HMAC()
 * look the algorithm up on every call (OpenSSL 3), which cost more than the
 * hashing itself for the short messages hashed and HMAC'd per search rate. */
static EVP_MD *mds[4];
static pthread_once_t mds_once = PTHREAD_ONCE_INIT;

static void mds_fetch(void)
{
    static const char *const names[] = { "SHA256", "SHA512", "SHA1", "MD5" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        mds[i] = EVP_MD_fetch(NULL, names[i], NULL);   /* NULL if unavailable (MD5 under FIPS) */
}

static const EVP_MD *md_by_id(lua_Integer id)
{
    pthread_once(&mds_once, mds_fetch);
    return id >= 0 && id < 4 ? mds[id] : NULL;
}

static int l_digest(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const EVP_MD *md = md_by_id(lua_tointeger(L, lua_upvalueindex(1)));
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    /* Only fails if the algorithm is unavailable (e.g. MD5 under FIPS). */
    if (md == NULL || EVP_Digest(s, len, out, &outlen, md, NULL) != 1)
        return luaL_error(L, "crypto: digest unavailable");
    push_bytes(L, out, outlen, lua_toboolean(L, lua_upvalueindex(2)));
    return 1;
}

/* HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || msg)). */
static int hmac(const EVP_MD *md, const char *key, size_t klen, const char *msg, size_t mlen,
                unsigned char *out, unsigned int *outlen)
{
    unsigned char k0[128], pad[128], inner[EVP_MAX_MD_SIZE];
    unsigned int ilen = 0;
    size_t bs = (size_t)EVP_MD_get_block_size(md);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && bs <= sizeof(k0);
    memset(k0, 0, sizeof(k0));
    if (ok && klen > bs)
        ok = EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, key, klen) &&
             EVP_DigestFinal_ex(ctx, k0, &ilen);
    else if (ok)
        memcpy(k0, key, klen);
    for (size_t i = 0; i < bs; i++)
        pad[i] = k0[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, bs) &&
         EVP_DigestUpdate(ctx, msg, mlen) && EVP_DigestFinal_ex(ctx, inner, &ilen);
    for (size_t i = 0; i < bs; i++)
        pad[i] = k0[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, pad, bs) &&
         EVP_DigestUpdate(ctx, inner, ilen) && EVP_DigestFinal_ex(ctx, out, outlen);
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(pad, sizeof(pad));
    return ok;
}

static int l_hmac(lua_State *L)
{
    size_t klen, mlen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const char *msg = luaL_checklstring(L, 2, &mlen);
    const EVP_MD *md = md_by_id(lua_tointeger(L, lua_upvalueindex(1)));
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    if (md == NULL || !hmac(md, key, klen, msg, mlen, out, &outlen))
        return luaL_error(L, "crypto: hmac unavailable");
    push_bytes(L, out, outlen, lua_toboolean(L, lua_upvalueindex(2)));
    return 1;
}

/* --- hex ---------------------------------------------------------------- */

static int l_hex(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    if (len > SIZE_MAX / 2)
        return luaL_argerror(L, 1, "string too long");
    char *out = (char *)scratch(L, 2 * len);
    hex_encode(s, len, out);
    lua_pushlstring(L, out, 2 * len);
    return 1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int l_unhex(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    if (len % 2)
        return push_nil_err(L, "unhex: odd length");
    unsigned char *out = scratch(L, len / 2);
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "unhex: invalid hex digit at position %d", (int)(i + (hi < 0 ? 1 : 2)));
            return 2;
        }
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    lua_pushlstring(L, (const char *)out, len / 2);
    return 1;
}

/* --- base64 ------------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(lua_State *L, const char *alphabet, int pad)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    if (len > (SIZE_MAX / 4) * 3 - 3)
        return luaL_argerror(L, 1, "string too long");
    char *out = (char *)scratch(L, (len + 2) / 3 * 4);
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    size_t rest = len - i;
    if (rest) {
        uint32_t v = (uint32_t)s[i] << 16 | (rest == 2 ? (uint32_t)s[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        if (rest == 2)
            out[o++] = alphabet[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    lua_pushlstring(L, out, o);
    return 1;
}

static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static int is_b64_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Decode into out (room for len*3/4+2 bytes); returns the decoded length or
 * -1 with *why set. Padding is optional but, if present, must complete the
 * final quantum; nothing but whitespace may follow it. */
static long b64_decode(const unsigned char *s, size_t len, int url, unsigned char *out, const char **why)
{
    uint32_t acc = 0;
    size_t nbits_groups = 0; /* sextets accumulated in the current quantum */
    size_t o = 0, pads = 0, total = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (is_b64_space(c))
            continue;
        if (c == '=') {
            pads++;
            total++;
            continue;
        }
        if (pads) {
            *why = "data after padding";
            return -1;
        }
        int v = b64_value(c, url);
        if (v < 0) {
            *why = "invalid character";
            return -1;
        }
        total++;
        acc = acc << 6 | (uint32_t)v;
        if (++nbits_groups == 4) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
            nbits_groups = 0;
        }
    }
    /* A lone trailing sextet cannot encode a byte. */
    if (nbits_groups == 1) {
        *why = "truncated input";
        return -1;
    }
    if (pads && (pads > 2 || total % 4 != 0 || nbits_groups + pads != 4)) {
        *why = "bad padding";
        return -1;
    }
    if (nbits_groups == 2) {
        out[o++] = (unsigned char)(acc >> 4);
    } else if (nbits_groups == 3) {
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    return (long)o;
}

static int b64_decode_lua(lua_State *L, int url)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    if (len > (size_t)LONG_MAX)
        return luaL_argerror(L, 1, "string too long");
    unsigned char *out = scratch(L, len / 4 * 3 + 3);
    const char *why = NULL;
    long n = b64_decode(s, len, url, out, &why);
    if (n < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", url ? "base64url_decode" : "base64_decode", why);
        return 2;
    }
    lua_pushlstring(L, (const char *)out, (size_t)n);
    return 1;
}

static int l_b64_encode(lua_State *L) { return b64_encode(L, b64_std, 1); }
static int l_b64url_encode(lua_State *L) { return b64_encode(L, b64_url, 0); }
static int l_b64_decode(lua_State *L) { return b64_decode_lua(L, 0); }
static int l_b64url_decode(lua_State *L) { return b64_decode_lua(L, 1); }

/* --- randomness --------------------------------------------------------- */

static size_t check_random_size(lua_State *L, int idx)
{
    lua_Number n = luaL_checknumber(L, idx);
    if (!(n >= 1 && n <= HM_CRYPTO_MAX_RANDOM) || n != (lua_Number)(lua_Integer)n)
        luaL_argerror(L, idx, "byte count must be an integer in 1..1048576");
    return (size_t)n;
}

/* Small draws (session ids, uuids: one per search) come from a per-thread
 * pool refilled 4 KiB at a time. OpenSSL's RAND_bytes makes a getpid()
 * system call on every call (its fork check), which on this path cost more
 * than the bytes. Each pool byte is handed out once and wiped. hotelmux
 * never forks after its workers start, so no two processes share a pool. */
#define RANDOM_POOL 4096
#define RANDOM_POOLED_MAX 64

int hm_crypto_random(unsigned char *p, size_t n)
{
    static _Thread_local unsigned char pool[RANDOM_POOL];
    static _Thread_local size_t left;
    if (n > RANDOM_POOLED_MAX)
        return RAND_bytes(p, (int)n) == 1 ? HM_OK : HM_EIO;
    if (left < n) {
        if (RAND_bytes(pool, RANDOM_POOL) != 1)
            return HM_EIO;
        left = RANDOM_POOL;
    }
    unsigned char *from = pool + RANDOM_POOL - left;
    memcpy(p, from, n);
    memset(from, 0, n);
    left -= n;
    return HM_OK;
}

static void random_fill(lua_State *L, unsigned char *p, size_t n)
{
    if (hm_crypto_random(p, n) != HM_OK)
        luaL_error(L, "crypto: random generator failed");
}

static int l_random_bytes(lua_State *L)
{
    size_t n = check_random_size(L, 1);
    unsigned char *p = scratch(L, n);
    random_fill(L, p, n);
    lua_pushlstring(L, (const char *)p, n);
    return 1;
}

static int l_random_hex(lua_State *L)
{
    size_t n = check_random_size(L, 1);
    unsigned char *p = scratch(L, 3 * n); /* n random bytes, then 2n hex chars */
    random_fill(L, p, n);
    hex_encode(p, n, (char *)p + n);
    lua_pushlstring(L, (const char *)p + n, 2 * n);
    return 1;
}

static int l_uuid(lua_State *L)
{
    unsigned char b[16];
    random_fill(L, b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
    char out[36];
    size_t o = 0;
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex_digits[b[i] >> 4];
        out[o++] = hex_digits[b[i] & 15];
    }
    lua_pushlstring(L, out, sizeof(out));
    return 1;
}

/* --- comparison --------------------------------------------------------- */

/* Constant time in the content; the length is not secret (it is compared
 * first), which is the usual contract for MAC and token checks. */
static int l_equal(lua_State *L)
{
    size_t alen, blen;
    const char *a = luaL_checklstring(L, 1, &alen);
    const char *b = luaL_checklstring(L, 2, &blen);
    lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
    return 1;
}

/* --- module ------------------------------------------------------------- */

static void set_closure(lua_State *L, const char *name, lua_CFunction fn, int id, int hex)
{
    lua_pushinteger(L, id);
    lua_pushboolean(L, hex);
    lua_pushcclosure(L, fn, 2);
    lua_setfield(L, -2, name);
}

int hm_lua_crypto_open(lua_State *L)
{
    static const char *const digests[] = { "sha256", "sha512", "sha1", "md5" };
    static const luaL_Reg funcs[] = {
        { "hex", l_hex },
        { "unhex", l_unhex },
        { "base64_encode", l_b64_encode },
        { "base64_decode", l_b64_decode },
        { "base64", l_b64_encode },   /* the short name DESIGN.md uses */
        { "base64url_encode", l_b64url_encode },
        { "base64url_decode", l_b64url_decode },
        { "random_bytes", l_random_bytes },
        { "random_hex", l_random_hex },
        { "uuid", l_uuid },
        { "equal", l_equal },
        { NULL, NULL },
    };
    lua_createtable(L, 0, 24);
    luaL_setfuncs(L, funcs, 0);
    for (int i = 0; i < 4; i++) {
        char name[32];
        set_closure(L, digests[i], l_digest, i, 0);
        snprintf(name, sizeof(name), "%s_hex", digests[i]);
        set_closure(L, name, l_digest, i, 1);
    }
    set_closure(L, "hmac_sha256", l_hmac, 0, 0);
    set_closure(L, "hmac_sha256_hex", l_hmac, 0, 1);
    set_closure(L, "hmac_sha512", l_hmac, 1, 0);
    set_closure(L, "hmac_sha512_hex", l_hmac, 1, 1);
    return 1;
}
