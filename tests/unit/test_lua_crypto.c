/* test_lua_crypto.c -- hm.crypto against published test vectors. */
#include "hotelmux/common.h"
#include "hotelmux/lua_crypto.h"

#include <lauxlib.h>
#include <lualib.h>

#include "hm_test.h"
#include "hm_test_lua.h"

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    hm_lua_crypto_open(L);
    lua_setfield(L, -2, "crypto");
    lua_getfield(L, -1, "crypto");
    lua_setglobal(L, "C"); /* short alias for the snippets below */
    lua_setglobal(L, "hm");
    return L;
}

static const char *run(lua_State *L, const char *code) { return hm_test_lua_run(L, code); }

HM_TEST(digests)
{
    lua_State *L = new_state();
    /* FIPS 180-2 appendix vectors and RFC 1321 */
    HM_CHECK_STR(run(L, "return C.sha256_hex('abc')"),
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    HM_CHECK_STR(run(L, "return C.sha512_hex('abc')"),
                 "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    HM_CHECK_STR(run(L, "return C.sha1_hex('abc')"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    HM_CHECK_STR(run(L, "return C.md5_hex('')"), "d41d8cd98f00b204e9800998ecf8427e");
    HM_CHECK_STR(run(L, "return C.md5_hex('abc')"), "900150983cd24fb0d6963f7d28e17f72");
    /* raw forms: right length and equal to hex of the raw bytes */
    HM_CHECK_STR(run(L, "return #C.sha256('abc') .. ',' .. #C.sha512('abc') .. ',' .. #C.sha1('abc') .. ',' .. #C.md5('')"),
                 "32,64,20,16");
    HM_CHECK_STR(run(L, "return tostring(C.hex(C.sha256('abc')) == C.sha256_hex('abc'))"), "true");
    /* binary-safe input (embedded NUL) */
    HM_CHECK_STR(run(L, "return tostring(C.sha256_hex('a\\0b') ~= C.sha256_hex('a'))"), "true");
    HM_CHECK_STR(run(L, "return tostring(pcall(C.sha256, {}))"), "false");
    HM_CHECK_STR(run(L, "return tostring(pcall(C.sha256))"), "false");
    lua_close(L);
}

HM_TEST(hmac_rfc4231)
{
    lua_State *L = new_state();
    /* test case 1 */
    HM_CHECK_STR(run(L, "return C.hmac_sha256_hex(string.rep('\\11', 20), 'Hi There')"),
                 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    HM_CHECK_STR(run(L, "return C.hmac_sha512_hex(string.rep('\\11', 20), 'Hi There')"),
                 "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                 "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
    /* test case 2 */
    HM_CHECK_STR(run(L, "return C.hmac_sha256_hex('Jefe', 'what do ya want for nothing?')"),
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    HM_CHECK_STR(run(L, "return C.hmac_sha512_hex('Jefe', 'what do ya want for nothing?')"),
                 "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                 "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
    /* test case 6: a key longer than the block size is hashed first */
    HM_CHECK_STR(run(L, "return C.hmac_sha256_hex(string.rep('\\170', 131), "
                        "'Test Using Larger Than Block-Size Key - Hash Key First')"),
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    HM_CHECK_STR(run(L, "return C.hmac_sha512_hex(string.rep('\\170', 131), "
                        "'Test Using Larger Than Block-Size Key - Hash Key First')"),
                 "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
                 "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598");
    /* empty key and message */
    HM_CHECK_STR(run(L, "return C.hmac_sha256_hex('', '')"),
                 "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    HM_CHECK_STR(run(L, "local r = C.hmac_sha256('Jefe', 'what do ya want for nothing?')\n"
                        "return #r .. ',' .. C.hex(r):sub(1, 8) .. ',' .. #C.hmac_sha512('k', 'm')"),
                 "32,5bdcc146,64");
    HM_CHECK_STR(run(L, "return tostring(pcall(C.hmac_sha256, 'k'))"), "false");
    lua_close(L);
}

HM_TEST(hex_roundtrip)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "return C.hex('\\0\\1\\171\\255')"), "0001abff");
    HM_CHECK_STR(run(L, "return C.hex('')"), "");
    HM_CHECK_STR(run(L, "return tostring(C.unhex('0001ABff') == '\\0\\1\\171\\255')"), "true");
    HM_CHECK_STR(run(L, "return '[' .. C.unhex('') .. ']'"), "[]");
    HM_CHECK_STR(run(L, "local r, err = C.unhex('abc')\nreturn tostring(r) .. '|' .. err"), "nil|unhex: odd length");
    HM_CHECK_STR(run(L, "local r, err = C.unhex('00zz')\nreturn tostring(r) .. '|' .. err"),
                 "nil|unhex: invalid hex digit at position 3");
    HM_CHECK_STR(run(L, "local r, err = C.unhex('0g')\nreturn tostring(r) .. '|' .. err"),
                 "nil|unhex: invalid hex digit at position 2");
    HM_CHECK_STR(run(L, "local s = '' for i = 0, 255 do s = s .. string.char(i) end\n"
                        "return tostring(C.unhex(C.hex(s)) == s) .. #C.hex(s)"),
                 "true512");
    lua_close(L);
}

HM_TEST(base64_rfc4648)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "local t = {}\n"
                        "for _, s in ipairs{'', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar'} do\n"
                        "  t[#t + 1] = '[' .. C.base64_encode(s) .. ']'\n"
                        "end return table.concat(t)"),
                 "[][Zg==][Zm8=][Zm9v][Zm9vYg==][Zm9vYmE=][Zm9vYmFy]");
    HM_CHECK_STR(run(L, "local t = {}\n"
                        "for _, s in ipairs{'', 'Zg==', 'Zm8=', 'Zm9v', 'Zm9vYg==', 'Zm9vYmE=', 'Zm9vYmFy'} do\n"
                        "  t[#t + 1] = '[' .. assert(C.base64_decode(s)) .. ']'\n"
                        "end return table.concat(t)"),
                 "[][f][fo][foo][foob][fooba][foobar]");
    /* padding optional, whitespace ignored */
    HM_CHECK_STR(run(L, "return C.base64_decode('Zg') .. C.base64_decode('Zm8') .. C.base64_decode('Zm9v\\r\\nYmE')"),
                 "ffofooba");
    /* url-safe alphabet: bytes fb ff bf give +/+/ in standard base64 */
    HM_CHECK_STR(run(L, "return C.base64_encode('\\251\\255\\191') .. ' ' .. C.base64url_encode('\\251\\255\\191')"),
                 "+/+/ -_-_");
    HM_CHECK_STR(run(L, "return C.base64url_encode('\\251\\255\\191\\254') .. ' ' .. C.base64_encode('\\251\\255\\191\\254')"),
                 "-_-__g +/+//g==");
    HM_CHECK_STR(run(L, "return tostring(C.base64url_decode('-_-__g') == '\\251\\255\\191\\254')"
                        " .. tostring(C.base64url_decode('-_-__g==') == '\\251\\255\\191\\254')"),
                 "truetrue");
    HM_CHECK_STR(run(L, "local s = '' for i = 0, 255 do s = s .. string.char(i) end\n"
                        "return tostring(C.base64_decode(C.base64_encode(s)) == s)"
                        " .. tostring(C.base64url_decode(C.base64url_encode(s)) == s)"
                        " .. tostring(C.base64url_encode(s):find('[+/=]') == nil)"),
                 "truetruetrue");
    /* bad input: nil, err */
    static const char *const bad[] = {
        "C.base64_decode('Zm9v!')",   "C.base64_decode('Z')",     "C.base64_decode('Zm9vY')",
        "C.base64_decode('Zg=')",     "C.base64_decode('Zg===')", "C.base64_decode('Zg==Zg==')",
        "C.base64_decode('Zm9v=')",   "C.base64_decode('=')",     "C.base64_decode('-_-_')",
        "C.base64url_decode('+/+/')", "C.base64_decode('Z=g=')",
    };
    for (size_t i = 0; i < HM_ARRAY_SIZE(bad); i++) {
        char code[256];
        snprintf(code, sizeof(code), "local r, err = %s\nreturn tostring(r) .. '|' .. type(err)", bad[i]);
        const char *got = run(L, code);
        if (strcmp(got, "nil|string") != 0)
            fprintf(stderr, "bad base64 case %s -> %s\n", bad[i], got);
        HM_CHECK_STR(got, "nil|string");
    }
    HM_CHECK_STR(run(L, "local r, err = C.base64_decode('Zm9v!')\nreturn err"), "base64_decode: invalid character");
    lua_close(L);
}

HM_TEST(random_and_uuid)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "return #C.random_bytes(1) .. ',' .. #C.random_bytes(1048576) .. ',' .. #C.random_hex(16)"),
                 "1,1048576,32");
    HM_CHECK_STR(run(L, "return tostring(C.random_hex(16):find('^[0-9a-f]+$') ~= nil)"), "true");
    HM_CHECK_STR(run(L, "return tostring(C.random_bytes(32) ~= C.random_bytes(32))"), "true");
    /* out of range or not an integer: raise */
    HM_CHECK_STR(run(L, "return tostring(pcall(C.random_bytes, 0)) .. tostring(pcall(C.random_bytes, 1048577))"
                        " .. tostring(pcall(C.random_bytes, -1)) .. tostring(pcall(C.random_bytes, 1.5))"
                        " .. tostring(pcall(C.random_bytes, 0/0)) .. tostring(pcall(C.random_hex, 0))"
                        " .. tostring(pcall(C.random_bytes, 'x'))"),
                 "falsefalsefalsefalsefalsefalsefalse");
    /* uuid v4: format, version nibble 4, variant 10xx, unique */
    HM_CHECK_STR(run(L, "local seen = {}\n"
                        "for i = 1, 200 do\n"
                        "  local u = C.uuid()\n"
                        "  if not u:find('^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$') then return 'bad ' .. u end\n"
                        "  if u:find('%u') then return 'upper ' .. u end\n"
                        "  if seen[u] then return 'dup ' .. u end\n"
                        "  seen[u] = true\n"
                        "end return 'ok'"),
                 "ok");
    lua_close(L);
}

HM_TEST(constant_time_equal)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "return tostring(C.equal('abc', 'abc')) .. tostring(C.equal('abc', 'abd'))"
                        " .. tostring(C.equal('abc', 'ab')) .. tostring(C.equal('', ''))"
                        " .. tostring(C.equal('a\\0b', 'a\\0c')) .. tostring(C.equal('a\\0b', 'a\\0b'))"),
                 "truefalsefalsetruefalsetrue");
    HM_CHECK_STR(run(L, "return tostring(pcall(C.equal, 'a', nil))"), "false");
    lua_close(L);
}

HM_TEST_MAIN(HM_TEST_ENTRY(digests), HM_TEST_ENTRY(hmac_rfc4231), HM_TEST_ENTRY(hex_roundtrip),
             HM_TEST_ENTRY(base64_rfc4648), HM_TEST_ENTRY(random_and_uuid), HM_TEST_ENTRY(constant_time_equal))
