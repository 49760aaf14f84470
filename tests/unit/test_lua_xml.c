/* test_lua_xml.c -- hm.xml against supplier-style SOAP, hostile and broken input. */
#include "hotelmux/lua_xml.h"

#include <lauxlib.h>
#include <lualib.h>
#include <unistd.h>

#include "hm_test.h"

static lua_State *new_state(void)
{
    hm_lua_xml_global_init(); /* main does this once; repeating it is harmless */
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_newtable(L);
    hm_lua_xml_open(L);
    lua_setfield(L, -2, "xml");
    lua_setglobal(L, "hm");
    return L;
}

/* Run a chunk that returns a string; NULL-safe copy for HM_CHECK_STR. */
static char result[4096];
static const char *run(lua_State *L, const char *code)
{
    lua_settop(L, 0);
    if (luaL_dostring(L, code) != 0) {
        snprintf(result, sizeof(result), "LUA ERROR: %s", lua_tostring(L, -1));
    } else if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
        snprintf(result, sizeof(result), "%s", lua_tostring(L, -1));
    } else {
        snprintf(result, sizeof(result), "(%s)", luaL_typename(L, -1));
    }
    lua_settop(L, 0);
    return result;
}

static const char soap[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"\n"
    "    xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
    "  <soap:Header/>\n"
    "  <soap:Body>\n"
    "    <OTA_HotelAvailRS xmlns=\"http://www.opentravel.org/OTA/2003/05\" Version=\"1.0\"\n"
    "        EchoToken=\"abc&amp;123\">\n"
    "      <Success/>\n"
    "      <RoomStays>\n"
    "        <RoomStay RPH=\"1\">\n"
    "          <RoomTypes><RoomType RoomTypeCode=\"DBL\" xsi:type=\"RoomTypeType\">\n"
    "            <RoomDescription Name=\"Double\"><Text><![CDATA[Sea view & <balcony>]]></Text></RoomDescription>\n"
    "          </RoomType></RoomTypes>\n"
    "          <RoomRates>\n"
    "            <RoomRate RatePlanCode=\"BAR\"><Rates><Rate><Base AmountAfterTax=\"120.50\" CurrencyCode=\"EUR\"/></Rate></Rates></RoomRate>\n"
    "            <RoomRate RatePlanCode=\"NRF\"><Rates><Rate><Base AmountAfterTax=\"99.00\" CurrencyCode=\"EUR\"/></Rate></Rates></RoomRate>\n"
    "          </RoomRates>\n"
    "          <BasicPropertyInfo HotelCode=\"H42\" HotelName=\"  Hotel  Mar \">  Text\n with spaces  </BasicPropertyInfo>\n"
    "        </RoomStay>\n"
    "      </RoomStays>\n"
    "    </OTA_HotelAvailRS>\n"
    "  </soap:Body>\n"
    "</soap:Envelope>\n";

static void set_soap(lua_State *L)
{
    lua_pushstring(L, soap);
    lua_setglobal(L, "SOAP");
}

HM_TEST(parse_soap_tree)
{
    lua_State *L = new_state();
    set_soap(L);
    HM_CHECK_STR(run(L, "local e = hm.xml.parse(SOAP)\n"
                        "return e.tag .. '|' .. e.ns .. '|' .. #e .. '|' .. e[1].tag .. '|' .. e[2].tag"),
                 "Envelope|http://schemas.xmlsoap.org/soap/envelope/|2|Header|Body");
    HM_CHECK_STR(run(L, "local e = hm.xml.parse(SOAP)\n"
                        "local rs = e[2][1]\n"
                        "return rs.tag .. '|' .. rs.ns .. '|' .. rs.attr.Version .. '|' .. rs.attr.EchoToken"
                        " .. '|' .. tostring(rs.attr.xmlns) .. '|' .. rs[1].tag .. '|' .. #rs"),
                 "OTA_HotelAvailRS|http://www.opentravel.org/OTA/2003/05|1.0|abc&123|nil|Success|2");
    /* text: direct only, trimmed, '' when none; CDATA counts; attr always a table */
    HM_CHECK_STR(run(L, "local rs = hm.xml.parse(SOAP)[2][1]\n"
                        "local stay = rs[2][1]\n"
                        "local rt = stay[1][1]\n"
                        "local info = stay[3]\n"
                        "return rt.attr.RoomTypeCode .. '|' .. rt.attr['xsi:type'] .. '|' .. rt[1][1].text"
                        " .. '|[' .. info.text .. ']|[' .. info.attr.HotelName .. ']|[' .. stay.text .. ']|'"
                        " .. type(rs[1].attr) .. '|' .. tostring(next(rs[1].attr)) .. '|' .. tostring(e)"),
                 "DBL|RoomTypeType|Sea view & <balcony>|[Text\n with spaces]|[  Hotel  Mar ]|[]|table|nil|nil");
    HM_CHECK_STR(run(L, "local stay = hm.xml.parse(SOAP)[2][1][2][1]\n"
                        "local r = stay[2]\n"
                        "return r[1].attr.RatePlanCode .. ',' .. r[2].attr.RatePlanCode .. ',' .."
                        " r[2][1][1][1].attr.AmountAfterTax .. ',' .. tostring(r[2][1][1][1][1])"),
                 "BAR,NRF,99.00,nil");
    /* element without a namespace has ns == nil */
    HM_CHECK_STR(run(L, "local e = hm.xml.parse('<a x=\"1\"><b/>tail</a>')\n"
                        "return tostring(e.ns) .. e.attr.x .. e.text .. #e .. e[1].text .. '.'"),
                 "nil1tail1.");
    lua_close(L);
}

HM_TEST(parse_errors)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "local e, err = hm.xml.parse('<a>\\n<b></a>')\n"
                        "return tostring(e) .. '|' .. err"),
                 "nil|xml parse error: line 2: Opening and ending tag mismatch: b line 2 and a");
    HM_CHECK_STR(run(L, "local e, err = hm.xml.parse('')\nreturn tostring(e) .. '|' .. err"),
                 "nil|xml parse error: empty document");
    HM_CHECK_STR(run(L, "local e, err = hm.xml.parse('not xml at all')\n"
                        "return tostring(e) .. '|' .. tostring(err:find('line 1', 1, true) ~= nil)"),
                 "nil|true");
    /* undeclared prefix is a namespace error, not a silent "p:x" tag */
    HM_CHECK_STR(run(L, "local e, err = hm.xml.parse('<p:x/>')\n"
                        "return tostring(e) .. '|' .. tostring(err:find('Namespace prefix p', 1, true) ~= nil)"),
                 "nil|true");
    HM_CHECK_STR(run(L, "local e, err = hm.xml.doc('<a><b></a>')\nreturn tostring(e) .. '|' .. type(err)"),
                 "nil|string");
    HM_CHECK_STR(run(L, "local e, err = hm.xml.xpath('<a', '/a')\nreturn tostring(e) .. '|' .. type(err)"),
                 "nil|string");
    /* wrong argument types raise */
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.parse, {}))"), "false");
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.xpath, {}, '/a'))"), "false");
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.escape))"), "false");
    lua_close(L);
}

/* libxml2 must not print anything itself: errors go only to the caller. */
HM_TEST(errors_not_printed)
{
    lua_State *L = new_state();
    FILE *tmp = tmpfile();
    HM_CHECK(tmp != NULL);
    if (tmp == NULL) {
        lua_close(L);
        return;
    }
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    run(L, "hm.xml.parse('<a><b></a>')\n"
           "hm.xml.parse('<?xml version=\"1.0\" encoding=\"bogus-enc\"?><a/>')\n"
           "hm.xml.parse('<a>\\255\\254</a>')\n"
           "hm.xml.parse('<a xmlns=\"rel/uri\"/>')\n"
           "hm.xml.xpath('<a/>', '//[')\n"
           "hm.xml.xpath('<a/>', '//q:a')\n"
           "hm.xml.xpath('<a/>', 'nosuchfn(1)')\n");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    HM_CHECK_INT(ftell(tmp), 0);
    fclose(tmp);
    lua_close(L);
}

HM_TEST(xxe_not_expanded)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "local e, err = hm.xml.parse('<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>')\n"
                        "if not e then return 'err:' .. err end\n"
                        "return '[' .. e.text .. ']'"),
                 "[]");
    HM_CHECK_STR(run(L, "local s = '<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;<y>&e;</y></x>'\n"
                        "local r = hm.xml.xpath(s, 'string(/x)')\n"
                        "return tostring(r and r:find('root:', 1, true))"),
                 "nil");
    /* external parameter entity and external DTD are not loaded either */
    HM_CHECK_STR(run(L, "local e, err = hm.xml.parse('<!DOCTYPE x [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><x>ok</x>')\n"
                        "if not e then return 'err:' .. (err:find('root:', 1, true) and 'LEAK' or 'ok') end\n"
                        "return e.text"),
                 "ok");
    HM_CHECK_STR(run(L, "local e = hm.xml.parse('<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><x>ok</x>')\n"
                        "return e and e.text"),
                 "ok");
    /* billion laughs: internal entities are not expanded into text */
    HM_CHECK_STR(run(L, "local s = '<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
                        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><l>&c;</l>'\n"
                        "local e, err = hm.xml.parse(s)\n"
                        "local out = e and e.text or err\n"
                        "return tostring(out:find('aaaa', 1, true))"),
                 "nil");
    lua_close(L);
}

HM_TEST(depth_limits)
{
    lua_State *L = new_state();
    static const char nest[] = "local function nest(n) return string.rep('<a>', n) .. string.rep('</a>', n) end\n";
    char code[512];
    snprintf(code, sizeof(code), "%s local e, err = hm.xml.parse(nest(100000))\n"
                                 "return tostring(e) .. '|' .. tostring(err:find('depth', 1, true) ~= nil)", nest);
    HM_CHECK_STR(run(L, code), "nil|true");
    snprintf(code, sizeof(code), "%s local e, err = hm.xml.parse(nest(300))\n"
                                 "return tostring(e) .. '|' .. type(err)", nest);
    HM_CHECK_STR(run(L, code), "nil|string");
    /* libxml2 accepts 257 levels; the conversion refuses past 256 */
    snprintf(code, sizeof(code), "%s local e, err = hm.xml.parse(nest(257))\n"
                                 "return tostring(e) .. '|' .. err", nest);
    HM_CHECK_STR(run(L, code), "nil|xml: document nested deeper than 256 elements");
    snprintf(code, sizeof(code), "%s local e = assert(hm.xml.parse(nest(256)))\n"
                                 "local n = 0 while e do n = n + 1; e = e[1] end return n", nest);
    HM_CHECK_STR(run(L, code), "256");
    /* deep but within limits: walk down and count */
    snprintf(code, sizeof(code), "%s local e = assert(hm.xml.parse(nest(200)))\n"
                                 "local n = 0 while e do n = n + 1; e = e[1] end return n", nest);
    HM_CHECK_STR(run(L, code), "200");
    /* doc handle on 100000 levels also fails cleanly */
    snprintf(code, sizeof(code), "%s local d, err = hm.xml.doc(nest(100000))\n"
                                 "return tostring(d) .. '|' .. type(err)", nest);
    HM_CHECK_STR(run(L, code), "nil|string");
    lua_close(L);
}

HM_TEST(size_limit)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "local s = '<a>' .. string.rep('x', 32 * 1024 * 1024) .. '</a>'\n"
                        "local e, err = hm.xml.parse(s)\n"
                        "return tostring(e) .. '|' .. tostring(err:find('too large', 1, true) ~= nil)"),
                 "nil|true");
    lua_close(L);
}

HM_TEST(xpath_namespaces)
{
    lua_State *L = new_state();
    set_soap(L);
    static const char ns[] =
        "NS = { s = 'http://schemas.xmlsoap.org/soap/envelope/', o = 'http://www.opentravel.org/OTA/2003/05' }\n";
    char code[2048];
    /* elements as element tables, in document order */
    snprintf(code, sizeof(code), "%s local d = assert(hm.xml.doc(SOAP))\n"
             "local r = assert(d:xpath('//o:RoomRate', NS))\n"
             "return #r .. ',' .. r[1].attr.RatePlanCode .. ',' .. r[2].attr.RatePlanCode .. ',' .. r[1].ns", ns);
    HM_CHECK_STR(run(L, code), "2,BAR,NRF,http://www.opentravel.org/OTA/2003/05");
    /* attribute nodes as strings */
    snprintf(code, sizeof(code), "%s local r = assert(hm.xml.xpath(SOAP, '//o:Base/@AmountAfterTax', NS))\n"
             "return table.concat(r, ',')", ns);
    HM_CHECK_STR(run(L, code), "120.50,99.00");
    /* text nodes verbatim (CDATA merged into text) */
    snprintf(code, sizeof(code), "%s local r = assert(hm.xml.xpath(SOAP, '/s:Envelope/s:Body//o:Text/text()', NS))\n"
             "return #r .. ':' .. r[1]", ns);
    HM_CHECK_STR(run(L, code), "1:Sea view & <balcony>");
    /* scalars: number, string, boolean */
    snprintf(code, sizeof(code), "%s local d = assert(hm.xml.doc(SOAP))\n"
             "local n = d:xpath('sum(//o:Base/@AmountAfterTax)', NS)\n"
             "local c = d:xpath('count(//o:RoomRate)', NS)\n"
             "local s = d:xpath('string(//o:BasicPropertyInfo/@HotelCode)', NS)\n"
             "local b = d:xpath('boolean(//o:Success)', NS)\n"
             "local f = d:xpath('boolean(//o:Errors)', NS)\n"
             "return string.format('%%.2f|%%d|%%s|%%s|%%s|%%s', n, c, s, tostring(b), tostring(f), type(c))", ns);
    HM_CHECK_STR(run(L, code), "219.50|2|H42|true|false|number");
    /* no match: empty array; no ns table: default-namespace elements do not match */
    HM_CHECK_STR(run(L, "local d = assert(hm.xml.doc(SOAP))\n"
                        "local r = d:xpath('//RoomRate')\n"
                        "local q = d:xpath('//*[local-name()=\"RoomRate\"]/@RatePlanCode')\n"
                        "return type(r) .. #r .. ',' .. #q .. q[2]"),
                 "table0,2NRF");
    /* without namespaces at all */
    HM_CHECK_STR(run(L, "local r = hm.xml.xpath('<h><r id=\"1\">a</r><r id=\"2\">b</r></h>', '/h/r[@id=\"2\"]')\n"
                        "return r[1].text .. r[1].attr.id .. #r"),
                 "b21");
    /* the document node is returned as the root element */
    HM_CHECK_STR(run(L, "local r = hm.xml.xpath('<h><r/></h>', '/')\nreturn r[1].tag .. #r[1]"), "h1");
    /* errors: invalid expression, unknown prefix, unknown function */
    HM_CHECK_STR(run(L, "local r, err = hm.xml.xpath('<a/>', '//[')\n"
                        "return tostring(r) .. '|' .. tostring(err:find('^xpath error: Invalid expression') ~= nil)"),
                 "nil|true");
    HM_CHECK_STR(run(L, "local r, err = hm.xml.xpath('<a/>', '//q:a')\n"
                        "return tostring(r) .. '|' .. tostring(err:find('Undefined namespace prefix', 1, true) ~= nil)"),
                 "nil|true");
    HM_CHECK_STR(run(L, "local d = hm.xml.doc('<a/>')\nlocal r, err = d:xpath('nosuchfn(1)')\n"
                        "return tostring(r) .. '|' .. type(err)"),
                 "nil|string");
    /* bad ns table types raise */
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.xpath, '<a/>', '/a', { [1] = 'x' }))"), "false");
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.xpath, '<a/>', '/a', 'notatable'))"), "false");
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.xpath, '<a/>', {}))"), "false");
    lua_close(L);
}

HM_TEST(doc_lifecycle)
{
    lua_State *L = new_state();
    set_soap(L);
    HM_CHECK_STR(run(L, "local d = assert(hm.xml.doc(SOAP))\n"
                        "local root = d:root()\n"
                        "local via = hm.xml.xpath(d, 'count(//*)')\n"
                        "d:free(); d:free()\n"
                        "local ok, err = pcall(d.root, d)\n"
                        "return root.tag .. '|' .. via .. '|' .. tostring(ok) .. '|' .. tostring(err:find('freed', 1, true) ~= nil)"
                        " .. '|' .. tostring(d):match('freed')"),
                 "Envelope|21|false|true|freed");
    /* docs left to the collector are freed by __gc (valgrind/ASan verify) */
    HM_CHECK_STR(run(L, "for i = 1, 50 do local d = hm.xml.doc(SOAP); d:xpath('//*') end\n"
                        "collectgarbage(); collectgarbage(); return 'ok'"),
                 "ok");
    HM_CHECK_STR(run(L, "return tostring(pcall(hm.xml.doc('<a/>').xpath, {}, '/a'))"), "false");
    HM_CHECK_STR(run(L, "return tostring(getmetatable(hm.xml.doc('<a/>')))"), "hm.xml.doc");
    lua_close(L);
}

/* A Lua error raised mid-call (bad ns table after the doc was parsed) must not
 * leak the parsed document or the XPath context: run under valgrind/ASan. */
HM_TEST(raise_mid_call_no_leak)
{
    lua_State *L = new_state();
    set_soap(L);
    HM_CHECK_STR(run(L, "local n = 0\n"
                        "for i = 1, 20 do\n"
                        "  local ok = pcall(hm.xml.xpath, SOAP, '//*', { o = {} })\n"
                        "  if not ok then n = n + 1 end\n"
                        "end\n"
                        "return n"),
                 "20");
    lua_close(L);
}

HM_TEST(escape)
{
    lua_State *L = new_state();
    HM_CHECK_STR(run(L, "return hm.xml.escape([[a&b<c>d\"e'f]])"), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    HM_CHECK_STR(run(L, "return hm.xml.escape('plain text')"), "plain text");
    HM_CHECK_STR(run(L, "return hm.xml.escape('')"), "");
    HM_CHECK_STR(run(L, "return hm.xml.escape('l1\\nl2\\tx\\r')"), "l1&#10;l2&#9;x&#13;");
    /* round trip through the parser, in text and in an attribute */
    HM_CHECK_STR(run(L, "local v = [[ <&>\"' x ]]\n"
                        "local e = hm.xml.parse('<a v=\"' .. hm.xml.escape(v) .. '\">' .. hm.xml.escape(v) .. '</a>')\n"
                        "return tostring(e.attr.v == v) .. tostring(e.text == v:match('^%s*(.-)%s*$'))"),
                 "truetrue");
    lua_close(L);
}

HM_TEST_MAIN(HM_TEST_ENTRY(parse_soap_tree), HM_TEST_ENTRY(parse_errors), HM_TEST_ENTRY(errors_not_printed),
             HM_TEST_ENTRY(xxe_not_expanded), HM_TEST_ENTRY(depth_limits), HM_TEST_ENTRY(size_limit),
             HM_TEST_ENTRY(xpath_namespaces), HM_TEST_ENTRY(doc_lifecycle), HM_TEST_ENTRY(raise_mid_call_no_leak),
             HM_TEST_ENTRY(escape))
