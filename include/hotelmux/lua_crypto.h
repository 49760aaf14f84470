/* lua_crypto.h -- the `hm.crypto` Lua module on OpenSSL libcrypto.
 *
 * Lua API (bad data returns nil, err; wrong argument types and out-of-range
 * sizes raise):
 *   sha256(s) sha512(s) sha1(s) md5(s)          -> raw digest bytes
 *   sha256_hex(s) sha512_hex(s) sha1_hex(s) md5_hex(s) -> lowercase hex
 *   hmac_sha256(key, msg) hmac_sha512(key, msg) -> raw MAC bytes
 *   hmac_sha256_hex(key, msg) hmac_sha512_hex(key, msg) -> lowercase hex
 *   hex(s)                 -> lowercase hex
 *   unhex(s)               -> bytes | nil, err   (either case; even length)
 *   base64_encode(s)       -> standard alphabet, padded
 *   base64_decode(s)       -> bytes | nil, err   (padding optional)
 *   base64url_encode(s)    -> URL-safe alphabet, no padding (JWT)
 *   base64url_decode(s)    -> bytes | nil, err   (padding optional)
 *   random_bytes(n)        -> n bytes from RAND_bytes, 0 < n <= 1 MiB
 *   random_hex(n)          -> 2n hex chars from n random bytes
 *   uuid()                 -> RFC 4122 version 4 UUID, lowercase
 *   equal(a, b)            -> constant-time comparison; false if lengths differ
 *
 * The decoders ignore ASCII whitespace (line-wrapped MIME/PEM input) and
 * reject any other character outside their alphabet, misplaced padding and
 * impossible lengths. */
#ifndef HM_LUA_CRYPTO_H
#define HM_LUA_CRYPTO_H

#include <lua.h>
#include <stddef.h>

#define HM_CRYPTO_MAX_RANDOM (1024 * 1024)

/* Fill p with n random bytes (what random_bytes uses; callable from C on a
 * worker thread): HM_OK or HM_EIO when the generator fails. */
int hm_crypto_random(unsigned char *p, size_t n);

/* Push the hm.crypto module table; returns 1. */
int hm_lua_crypto_open(lua_State *L);

#endif
