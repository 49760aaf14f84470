/* lua_xml.h -- the `hm.xml` Lua module: XML parsing and XPath on libxml2.
 *
 * Lua API (data errors return nil, err; wrong argument types raise):
 *   hm.xml.parse(s)                  -> element | nil, err
 *   hm.xml.doc(s)                    -> doc | nil, err
 *   doc:root()                       -> element
 *   doc:xpath(expr [, ns])           -> result | nil, err
 *   doc:free()                       -> (idempotent; __gc does it otherwise)
 *   hm.xml.xpath(s_or_doc, expr [, ns]) -> result | nil, err
 *   hm.xml.escape(s)                 -> s with & < > " ' \t \n \r escaped
 *
 * element = { tag = local name, ns = namespace URI or nil,
 *             attr = { name = value, ... },   -- always a table
 *             text = direct text children (CDATA included) concatenated and
 *                    trimmed of surrounding whitespace, "" if none,
 *             [1..n] = child elements in document order }
 * Attribute keys are local names; attributes in a namespace are keyed
 * "prefix:local" as written in the document (e.g. "xsi:type", "xml:lang").
 * Namespace declarations (xmlns, xmlns:p) are not attributes. References to
 * DTD-declared entities are never expanded (XXE) and contribute no text.
 *
 * ns maps prefix -> namespace URI for the XPath expression. A node-set result
 * is an array: elements as element tables, attribute/text/comment nodes as
 * their string values (verbatim, not trimmed), the document node "/" as the
 * root element. Number, string and boolean results are returned as scalars.
 *
 * Limits: documents over HM_XML_MAX_SIZE bytes are rejected; element tables
 * nest at most HM_XML_MAX_DEPTH levels (libxml2 itself stops at about 256). */
#ifndef HM_LUA_XML_H
#define HM_LUA_XML_H

#include <lua.h>

#define HM_XML_MAX_SIZE (32u * 1024u * 1024u)
#define HM_XML_MAX_DEPTH 256

/* Initialise libxml2 once, from main, before any worker thread starts. */
void hm_lua_xml_global_init(void);

/* Push the hm.xml module table; returns 1. */
int hm_lua_xml_open(lua_State *L);

#endif
