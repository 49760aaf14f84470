/* lua_xml.c -- hm.xml: parse supplier XML into Lua tables and run XPath.
 *
 * Ownership: every libxml2 object is held by a Lua userdata whose __gc frees
 * it, before any Lua API call that may raise (out of memory, stack overflow,
 * bad argument). A longjmp out of this file therefore never leaks; on the
 * normal path the objects are freed explicitly as soon as they are done.
 *
 * Errors: libxml2 reports through callbacks. Each call installs its own
 * capture (the parser context's structured handler, the XPath context's
 * handler, and as a catch-all the thread-local structured handler), so
 * nothing is printed to stderr and workers on different threads never see
 * each other's errors. */
#include "hotelmux/lua_xml.h"

#include <lauxlib.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <string.h>

#define DOC_MT "hm.xml.doc"
#define SCRATCH_MT "hm.xml.scratch"

/* No network, no external entities, no DTD loading (no NOENT/DTDLOAD). CDATA
 * is merged into text so text() and .text see one string. */
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_COMPACT)

#define ERR_LEN 512

/* libxml2 2.12 made the error argument const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_err_arg_t;
#else
typedef xmlErrorPtr xml_err_arg_t;
#endif

/* --- error capture ------------------------------------------------------ */

typedef struct {
    char msg[ERR_LEN];
    int have;              /* the first error wins: later ones are fallout */
    const char *what;      /* "xml parse error" or "xpath error" */
    xmlStructuredErrorFunc prev_fn;
    void *prev_ctx;
    xmlGenericErrorFunc prev_generic_fn;
    void *prev_generic_ctx;
} xml_cap_t;

/* An XPath context's own error callback receives the error without its
 * message (libxml2 keeps the texts private), so name the code here. */
static const char *xpath_message(int code)
{
    static const char *const msgs[] = {
        "Ok", "Number encoding", "Unfinished literal", "Start of literal",
        "Expected $ for variable reference", "Undefined variable", "Invalid predicate",
        "Invalid expression", "Missing closing curly brace", "Unregistered function",
        "Invalid operand", "Invalid type", "Invalid number of arguments", "Invalid context size",
        "Invalid context position", "Memory allocation error", "Syntax error", "Resource error",
        "Sub resource error", "Undefined namespace prefix", "Encoding error",
        "Char out of XML range", "Invalid or incomplete context", "Stack usage error",
        "Forbidden variable", "Operation limit exceeded", "Recursion limit exceeded",
    };
    int i = code - XML_XPATH_EXPRESSION_OK;
    if (i < 0 || (size_t)i >= sizeof(msgs) / sizeof(msgs[0]))
        return "unknown error";
    return msgs[i];
}

static void cap_record(xml_cap_t *cap, xml_err_arg_t e)
{
    if (cap == NULL || e == NULL || cap->have || e->level < XML_ERR_ERROR)
        return;
    const char *m = e->message ? e->message
                  : e->domain == XML_FROM_XPATH ? xpath_message(e->code) : "unknown error";
    size_t n = strlen(m);
    while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    if (e->domain == XML_FROM_XPATH)
        snprintf(cap->msg, sizeof(cap->msg), "%s: %.*s%s%s%s", cap->what, (int)n, m,
                 e->str1 ? " in '" : "", e->str1 ? e->str1 : "", e->str1 ? "'" : "");
    else if (e->line > 0)
        snprintf(cap->msg, sizeof(cap->msg), "%s: line %d: %.*s", cap->what, e->line, (int)n, m);
    else
        snprintf(cap->msg, sizeof(cap->msg), "%s: %.*s", cap->what, (int)n, m);
    /* One line: some messages carry a second "Bytes: ..." line. */
    for (char *p = cap->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    cap->have = 1;
}

/* Parser-context handler: libxml2 passes ctxt->userData, which is the parser
 * context itself (SAX2 needs it to be), so the capture lives in _private. */
static void parser_error_cb(void *data, xml_err_arg_t e)
{
    xmlParserCtxtPtr ctxt = data;
    cap_record(ctxt ? ctxt->_private : NULL, e);
}

/* XPath-context and thread-local handlers get the capture directly. */
static void cap_error_cb(void *data, xml_err_arg_t e)
{
    cap_record(data, e);
}

/* Some libxml2 paths print free text through the generic channel (e.g.
 * "xmlXPathCompOpEval: function f not found") right before raising a proper
 * error; the proper error is what we report, so the text is dropped. */
static void XMLCDECL generic_error_cb(void *data, const char *fmt, ...)
{
    (void)data;
    (void)fmt;
}

/* The thread-local handlers (libxml2 keeps its error globals per thread)
 * catch errors raised without a context (e.g. encoding conversion) that
 * would otherwise go to stderr. They are restored after the call. */
static void cap_begin(xml_cap_t *cap, const char *what)
{
    cap->msg[0] = '\0';
    cap->have = 0;
    cap->what = what;
    cap->prev_fn = xmlStructuredError;
    cap->prev_ctx = xmlStructuredErrorContext;
    cap->prev_generic_fn = xmlGenericError;
    cap->prev_generic_ctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(cap, cap_error_cb);
    xmlSetGenericErrorFunc(cap, generic_error_cb);
}

static void cap_end(xml_cap_t *cap, const char *fallback)
{
    xmlSetStructuredErrorFunc(cap->prev_ctx, cap->prev_fn);
    xmlSetGenericErrorFunc(cap->prev_generic_ctx, cap->prev_generic_fn);
    if (!cap->have)
        snprintf(cap->msg, sizeof(cap->msg), "%s: %s", cap->what, fallback);
}

/* --- parsing ------------------------------------------------------------ */

/* Parse s into a new document (caller owns it) or NULL with the reason in
 * cap->msg. Touches no Lua state, so it cannot raise. */
static xmlDocPtr xml_parse(const char *s, size_t len, xml_cap_t *cap)
{
    if (len > HM_XML_MAX_SIZE) {
        snprintf(cap->msg, sizeof(cap->msg), "xml parse error: document too large (%zu bytes, limit %u)",
                 len, HM_XML_MAX_SIZE);
        return NULL;
    }
    if (len == 0) {
        snprintf(cap->msg, sizeof(cap->msg), "xml parse error: empty document");
        return NULL;
    }
    cap_begin(cap, "xml parse error");
    xmlDocPtr doc = NULL;
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(s, (int)len);
    if (ctxt == NULL) {
        cap_end(cap, "cannot create parser (out of memory)");
        return NULL;
    }
    /* Set before options: xmlCtxtUseOptions leaves serror alone, and we do
     * not use xmlCtxtReadMemory because its reset clears _private. */
    ctxt->_private = cap;
    ctxt->sax->serror = parser_error_cb;
    xmlCtxtUseOptions(ctxt, PARSE_OPTIONS);
    int rc = xmlParseDocument(ctxt);
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    /* Namespace errors (undeclared prefix) leave a tree whose names would
     * silently mislead scripts, so they fail the parse as well. */
    if (rc != 0 || !ctxt->wellFormed || !ctxt->nsWellFormed || doc == NULL ||
        xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    cap_end(cap, "malformed document");
    return doc;
}

/* --- userdata owners ---------------------------------------------------- */

typedef struct {
    xmlDocPtr doc;
} xml_doc_t;

/* Temporaries of one call; whatever is still set when Lua collects it is
 * freed, which covers every raise between allocation and explicit release. */
typedef struct {
    xmlDocPtr doc;
    xmlXPathContextPtr xctx;
    xmlXPathObjectPtr obj;
} xml_scratch_t;

static void scratch_release(xml_scratch_t *sc)
{
    if (sc->obj) {
        xmlXPathFreeObject(sc->obj);
        sc->obj = NULL;
    }
    if (sc->xctx) {
        xmlXPathFreeContext(sc->xctx);
        sc->xctx = NULL;
    }
    if (sc->doc) {
        xmlFreeDoc(sc->doc);
        sc->doc = NULL;
    }
}

static int scratch_gc(lua_State *L)
{
    scratch_release(luaL_checkudata(L, 1, SCRATCH_MT));
    return 0;
}

static xml_scratch_t *scratch_new(lua_State *L)
{
    xml_scratch_t *sc = lua_newuserdata(L, sizeof(*sc));
    sc->doc = NULL;
    sc->xctx = NULL;
    sc->obj = NULL;
    luaL_setmetatable(L, SCRATCH_MT);
    return sc;
}

/* --- tree -> Lua -------------------------------------------------------- */

static int push_nil_err(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Concatenate the text children of node (an attribute's value, or an
 * element's direct text) and push it; trimmed when asked. */
static void push_text_children(lua_State *L, xmlNodePtr node, int trim)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (xmlNodePtr c = node->children; c != NULL; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            luaL_addstring(&b, (const char *)c->content);
    luaL_pushresult(&b);
    if (!trim)
        return;
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    size_t start = 0, end = len;
    while (start < end && is_space((unsigned char)s[start]))
        start++;
    while (end > start && is_space((unsigned char)s[end - 1]))
        end--;
    if (start != 0 || end != len) {
        lua_pushlstring(L, s + start, end - start);
        lua_replace(L, -2);
    }
}

static void push_attrs(lua_State *L, xmlNodePtr node)
{
    int n = 0;
    for (xmlAttrPtr a = node->properties; a != NULL; a = a->next)
        n++;
    lua_createtable(L, 0, n);
    for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
        if (a->ns && a->ns->prefix) {
            lua_pushstring(L, (const char *)a->ns->prefix);
            lua_pushliteral(L, ":");
            lua_pushstring(L, (const char *)a->name);
            lua_concat(L, 3);
        } else {
            lua_pushstring(L, (const char *)a->name);
        }
        push_text_children(L, (xmlNodePtr)a, 0);
        lua_rawset(L, -3);
    }
}

/* Push node (an element) as an element table. Recursion is bounded by
 * HM_XML_MAX_DEPTH; beyond it nothing is left pushed and -1 is returned. */
static int push_element(lua_State *L, xmlNodePtr node, int depth)
{
    if (depth > HM_XML_MAX_DEPTH)
        return -1;
    luaL_checkstack(L, 8, "xml nesting");
    int nchildren = 0;
    for (xmlNodePtr c = node->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            nchildren++;
    lua_createtable(L, nchildren, 4);
    lua_pushstring(L, (const char *)node->name);
    lua_setfield(L, -2, "tag");
    if (node->ns && node->ns->href) {
        lua_pushstring(L, (const char *)node->ns->href);
        lua_setfield(L, -2, "ns");
    }
    push_attrs(L, node);
    lua_setfield(L, -2, "attr");
    push_text_children(L, node, 1);
    lua_setfield(L, -2, "text");
    int i = 1;
    for (xmlNodePtr c = node->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (push_element(L, c, depth + 1) != 0) {
            lua_pop(L, 1);
            return -1;
        }
        lua_rawseti(L, -2, i++);
    }
    return 0;
}

static int push_root(lua_State *L, xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (root == NULL)
        return push_nil_err(L, "xml: document has no root element");
    if (push_element(L, root, 1) != 0)
        return push_nil_err(L, "xml: document nested deeper than 256 elements");
    return 1;
}

/* One node of an XPath node-set; -1 (nothing pushed) when too deep. */
static int push_node(lua_State *L, xmlNodePtr node)
{
    switch (node->type) {
    case XML_ELEMENT_NODE:
        return push_element(L, node, 1);
    case XML_ATTRIBUTE_NODE:
        push_text_children(L, node, 0);
        return 0;
    case XML_DOCUMENT_NODE: {
        xmlNodePtr root = xmlDocGetRootElement((xmlDocPtr)node);
        if (root == NULL) {
            lua_pushnil(L);
            return 0;
        }
        return push_element(L, root, 1);
    }
    case XML_NAMESPACE_DECL: {
        xmlNsPtr ns = (xmlNsPtr)node;
        lua_pushstring(L, ns->href ? (const char *)ns->href : "");
        return 0;
    }
    default: /* text, CDATA, comment, PI: their content */
        lua_pushstring(L, node->content ? (const char *)node->content : "");
        return 0;
    }
}

static int push_xpath_result(lua_State *L, xmlXPathObjectPtr obj)
{
    switch (obj->type) {
    case XPATH_NODESET: {
        xmlNodeSetPtr set = obj->nodesetval;
        int n = set ? set->nodeNr : 0;
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            if (push_node(L, set->nodeTab[i]) != 0) {
                lua_pop(L, 1);
                return push_nil_err(L, "xml: result nested deeper than 256 elements");
            }
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    case XPATH_BOOLEAN:
        lua_pushboolean(L, obj->boolval);
        return 1;
    case XPATH_NUMBER:
        lua_pushnumber(L, obj->floatval);
        return 1;
    case XPATH_STRING:
        lua_pushstring(L, obj->stringval ? (const char *)obj->stringval : "");
        return 1;
    default:
        return push_nil_err(L, "xpath error: unsupported result type");
    }
}

/* Run expr (string at expr_idx) on doc with the optional prefix -> URI
 * table at ns_idx. The XPath context and result are owned by sc. */
static int xpath_query(lua_State *L, xmlDocPtr doc, int expr_idx, int ns_idx, xml_scratch_t *sc)
{
    const char *expr = luaL_checkstring(L, expr_idx);
    if (!lua_isnoneornil(L, ns_idx))
        luaL_checktype(L, ns_idx, LUA_TTABLE);

    sc->xctx = xmlXPathNewContext(doc);
    if (sc->xctx == NULL)
        return luaL_error(L, "xml: out of memory");
    if (!lua_isnoneornil(L, ns_idx)) {
        lua_pushnil(L);
        while (lua_next(L, ns_idx) != 0) {
            /* Check the types before lua_tostring, which would convert a
             * number key in place and break lua_next. */
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_argerror(L, ns_idx, "namespace prefixes and URIs must be strings");
            if (xmlXPathRegisterNs(sc->xctx, (const xmlChar *)lua_tostring(L, -2),
                                   (const xmlChar *)lua_tostring(L, -1)) != 0)
                return luaL_argerror(L, ns_idx, "invalid namespace prefix");
            lua_pop(L, 1);
        }
    }

    xml_cap_t cap;
    cap_begin(&cap, "xpath error");
    sc->xctx->userData = &cap;
    sc->xctx->error = cap_error_cb;
    sc->obj = xmlXPathEvalExpression((const xmlChar *)expr, sc->xctx);
    cap_end(&cap, "evaluation failed");
    sc->xctx->error = NULL;
    sc->xctx->userData = NULL;
    if (sc->obj == NULL)
        return push_nil_err(L, cap.msg);
    int n = push_xpath_result(L, sc->obj);
    scratch_release(sc);
    return n;
}

/* --- document userdata -------------------------------------------------- */

static xml_doc_t *check_doc(lua_State *L, int idx)
{
    xml_doc_t *d = luaL_checkudata(L, idx, DOC_MT);
    if (d->doc == NULL)
        luaL_error(L, "xml: document already freed");
    return d;
}

static int doc_free(lua_State *L)
{
    xml_doc_t *d = luaL_checkudata(L, 1, DOC_MT);
    if (d->doc) {
        xmlFreeDoc(d->doc);
        d->doc = NULL;
    }
    return 0;
}

static int doc_root(lua_State *L)
{
    return push_root(L, check_doc(L, 1)->doc);
}

static int doc_xpath(lua_State *L)
{
    xml_doc_t *d = check_doc(L, 1);
    lua_settop(L, 3);
    xml_scratch_t *sc = scratch_new(L);
    return xpath_query(L, d->doc, 2, 3, sc);
}

static int doc_tostring(lua_State *L)
{
    xml_doc_t *d = luaL_checkudata(L, 1, DOC_MT);
    lua_pushfstring(L, "hm.xml.doc (%s): %p", d->doc ? "open" : "freed", (void *)d);
    return 1;
}

/* --- module functions --------------------------------------------------- */

static int l_parse(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    xml_scratch_t *sc = scratch_new(L);
    xml_cap_t cap;
    sc->doc = xml_parse(s, len, &cap);
    if (sc->doc == NULL)
        return push_nil_err(L, cap.msg);
    int n = push_root(L, sc->doc);
    scratch_release(sc);
    return n;
}

static int l_doc(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    /* The userdata exists before the document so the document always has
     * an owner the moment it does. */
    xml_doc_t *d = lua_newuserdata(L, sizeof(*d));
    d->doc = NULL;
    luaL_setmetatable(L, DOC_MT);
    xml_cap_t cap;
    d->doc = xml_parse(s, len, &cap);
    if (d->doc == NULL)
        return push_nil_err(L, cap.msg);
    return 1;
}

static int l_xpath(lua_State *L)
{
    lua_settop(L, 3);
    xml_scratch_t *sc = scratch_new(L);
    xmlDocPtr doc;
    xml_doc_t *d = luaL_testudata(L, 1, DOC_MT);
    if (d != NULL) {
        doc = check_doc(L, 1)->doc;
    } else if (lua_type(L, 1) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, 1, &len);
        xml_cap_t cap;
        sc->doc = xml_parse(s, len, &cap);
        if (sc->doc == NULL)
            return push_nil_err(L, cap.msg);
        doc = sc->doc;
    } else {
        return luaL_argerror(L, 1, "string or hm.xml.doc expected");
    }
    return xpath_query(L, doc, 2, 3, sc);
}

static int l_escape(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        /* Attribute-value normalisation would turn these into spaces. */
        case '\t': rep = "&#9;"; break;
        case '\n': rep = "&#10;"; break;
        case '\r': rep = "&#13;"; break;
        default: continue;
        }
        luaL_addlstring(&b, s + run, i - run);
        luaL_addstring(&b, rep);
        run = i + 1;
    }
    luaL_addlstring(&b, s + run, len - run);
    luaL_pushresult(&b);
    return 1;
}

void hm_lua_xml_global_init(void)
{
    LIBXML_TEST_VERSION
    xmlInitParser();
}

int hm_lua_xml_open(lua_State *L)
{
    static const luaL_Reg doc_methods[] = {
        { "root", doc_root },
        { "xpath", doc_xpath },
        { "free", doc_free },
        { NULL, NULL },
    };
    static const luaL_Reg funcs[] = {
        { "parse", l_parse },
        { "doc", l_doc },
        { "xpath", l_xpath },
        { "escape", l_escape },
        { NULL, NULL },
    };

    luaL_newmetatable(L, SCRATCH_MT);
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    luaL_newmetatable(L, DOC_MT);
    lua_pushcfunction(L, doc_free);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, doc_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_createtable(L, 0, 3);
    luaL_setfuncs(L, doc_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "hm.xml.doc");
    lua_setfield(L, -2, "__metatable"); /* scripts cannot swap __gc out */
    lua_pop(L, 1);

    lua_createtable(L, 0, 4);
    luaL_setfuncs(L, funcs, 0);
    return 1;
}
