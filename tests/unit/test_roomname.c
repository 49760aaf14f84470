/* test_roomname.c -- room-name parser and similarity model. */
#include "hm_test.h"

#include <pthread.h>

#include "hotelmux/common.h"
#include "hotelmux/roomname.h"

static hm_room_t P(const char *s)
{
    hm_room_t r;
    hm_room_parse(s, strlen(s), &r);
    return r;
}

static float S(const char *a, const char *b)
{
    hm_room_t x = P(a), y = P(b);
    return hm_room_score(&x, &y, NULL);
}

HM_TEST(parse_beds)
{
    hm_room_t a = P("Deluxe Room, 1 King Bed"), b = P("King Bed"), c = P("Deluxe K");
    HM_CHECK_INT(a.a.beds, HM_BED_KING);
    HM_CHECK_INT(a.a.bed_count, 1);
    HM_CHECK_INT(b.a.beds, HM_BED_KING);
    HM_CHECK_INT(b.a.bed_count, 1);
    HM_CHECK_INT(c.a.beds, HM_BED_KING);
    HM_CHECK_INT(a.a.tier, HM_TIER_DELUXE);
    hm_room_t d = P("Double Room with Two Double Beds");
    HM_CHECK_INT(d.a.beds, HM_BED_DOUBLE);
    HM_CHECK_INT(d.a.bed_count, 2);
    hm_room_t e = P("King Or Two Queen Room With Ocean View");
    HM_CHECK_INT(e.a.beds, HM_BED_KING | HM_BED_QUEEN);
    HM_CHECK_INT(e.a.bed_alt, 1);
    HM_CHECK_INT(e.a.view, HM_VIEW_SEA);
    hm_room_t f = P("2QUEEN STUDIO SUITE NSMK");   /* GDS style */
    HM_CHECK_INT(f.a.beds, HM_BED_QUEEN);
    HM_CHECK_INT(f.a.bed_count, 2);
    HM_CHECK_INT(f.a.unit, HM_UNIT_STUDIO | HM_UNIT_SUITE);
    HM_CHECK_INT(f.a.smoking, -1);
    hm_room_t g = P("Superior Twin Room");
    HM_CHECK_INT(g.a.beds, HM_BED_TWIN);
    HM_CHECK_INT(g.a.bed_count, 2);
    hm_room_t h = P("Junior Suite, 1 King Bed with Sofa Bed");
    HM_CHECK_INT(h.a.unit, HM_UNIT_JUNIOR_SUITE);
    HM_CHECK_INT(h.a.sofa_bed, 1);
    HM_CHECK_INT(h.a.beds, HM_BED_KING);
}

HM_TEST(parse_view_tower_access)
{
    hm_room_t a = P("Standard Room, Partial Ocean View (Kona Tower) - No Resort Fee");
    HM_CHECK_INT(a.a.view, HM_VIEW_SEA);
    HM_CHECK_INT(a.a.partial_view, 1);
    HM_CHECK_STR(a.a.tower_name, "kona");
    HM_CHECK_INT(a.a.tier, 0);     /* standard is the default tier */
    hm_room_t b = P("Room, Oceanfront");
    HM_CHECK_INT(b.a.view, HM_VIEW_OCEANFRONT);
    hm_room_t c = P("Standard Room With Ocean Front View");
    HM_CHECK_INT(c.a.view, HM_VIEW_OCEANFRONT);
    hm_room_t d = P("Queen Room - Disability Access");
    HM_CHECK_INT(d.a.accessible, 1);
    hm_room_t e = P("Junior Suite - Accessible Roll-in Shower");
    HM_CHECK_INT(e.a.accessible, 1);
    hm_room_t f = P("Pool Villa");   /* "pool" without "view" is not a view */
    HM_CHECK_INT(f.a.view, 0);
    HM_CHECK_INT(f.a.unit, HM_UNIT_VILLA);
    hm_room_t g = P("Kona Tower City / Mountain View");
    HM_CHECK_INT(g.a.view, HM_VIEW_CITY | HM_VIEW_MOUNTAIN);
    hm_room_t h = P("Room, 1 King Bed, Smoking");
    HM_CHECK_INT(h.a.smoking, 1);
    hm_room_t i = P("Club Room (Club Lounge Access for 2 guests)");
    HM_CHECK_INT(i.a.occupancy, 2);
    HM_CHECK_INT(i.a.accessible, 0);
    hm_room_t j = P("Deluxe One - Bedroom Suite");
    HM_CHECK_INT(j.a.bedrooms, 1);
    HM_CHECK_INT(j.a.unit, HM_UNIT_SUITE);
}

HM_TEST(rate_words_stripped)
{
    hm_room_t a = P("Deluxe Room (Non Refundable)"), b = P("Deluxe Room");
    HM_CHECK(a.a.rate & HM_RATE_NONREFUNDABLE);
    HM_CHECK_STR(a.norm, b.norm);
    hm_room_t c = P("Double Room - Half Board"), d = P("Double Room - Breakfast Included");
    HM_CHECK(c.a.rate & HM_RATE_HALF_BOARD);
    HM_CHECK(d.a.rate & HM_RATE_BREAKFAST);
    HM_CHECK_STR(c.norm, d.norm);
    HM_CHECK(S("Superior Double Room, Refundable", "Superior Double Room - Bed and Breakfast") > 0.9f);
    hm_room_t e = P("Premium King Room With Free Wi-Fi"), f = P("Premium King Room");
    HM_CHECK_STR(e.norm, f.norm);
}

HM_TEST(seed_examples)
{
    const char *a = "King Room with City View", *b = "Deluxe King - City View", *c = "King Bed City View";
    HM_CHECK(S(a, b) > 0.7f);
    HM_CHECK(S(a, c) > 0.9f);
    HM_CHECK(S(b, c) > 0.7f);
    HM_CHECK(S("1 King Bed", "K") > 0.99f);
    HM_CHECK(S("Twin", "King") < 0.1f);
    HM_CHECK(S("Superior Twin Room", "Superior King Room") < 0.35f);
    HM_CHECK(S("Deluxe King Room, Ocean View", "Deluxe King Room, City View") < 0.5f);
    HM_CHECK(S("Deluxe King Room", "Deluxe King Room - Accessible") < 0.75f);
    HM_CHECK(S("Standard Room, 1 King Bed", "Standard Room, 2 Queen Beds") < 0.35f);
    HM_CHECK(S("Suite", "Junior Suite") < 0.5f);
    HM_CHECK(S("", "King Room") == 0.0f);
    /* conflicts are explained */
    hm_room_t x = P("Twin Room"), y = P("King Room");
    hm_room_explain_t ex;
    hm_room_score(&x, &y, &ex);
    HM_CHECK(ex.conflicts & HM_RC_BED_TYPE);
    HM_CHECK_STR(hm_room_conflict_name(0), "bed_type");
}

/* "standard" is the default class: never a conflict, but two names that say
 * it are closer than one that does and one that does not; "lounge" access
 * is the club class. */
HM_TEST(standard_and_lounge)
{
    float same = S("Standard Room With Ocean View", "Standard Room, Ocean View");
    float plain = S("Standard Room With Ocean View", "Room, Ocean View");
    HM_CHECK(plain > 0.8f);
    HM_CHECK(same > plain);
    HM_CHECK(S("Room With Ocean View", "Room, Ocean View") > S("Room With Ocean View", "Standard Room, Ocean View"));
    HM_CHECK(S("Traditional Room, 1 King Bed", "Standard King Room") > S("Room, 1 King Bed", "Standard King Room"));
    hm_room_t x = P("Standard Room"), y = P("Deluxe Room"), z = P("Club Room, Lounge Access");
    hm_room_explain_t ex;
    hm_room_score(&x, &y, &ex);
    HM_CHECK(!(ex.conflicts & HM_RC_TIER));
    HM_CHECK_INT(x.a.tier, 0);
    HM_CHECK(z.a.tier & HM_TIER_CLUB);
    HM_CHECK(P("Executive Room King, Lounge Access").a.tier & HM_TIER_EXECUTIVE);
}

static const char *NAMES[] = {
    "Deluxe Room, 1 King Bed", "Deluxe King Room", "Room, 2 Double Beds (19th to 25th Floors)",
    "Two Double Beds - Location Room (19th to 25th Floors)", "Junior Suite", "Premier Twin Room",
    "Premier Queen Room With Two Queen Beds", "Room, Partial Ocean View", "Partical Ocean View Room",
    "Club Level King Or Queen Room with Water View", "Regency Club, Mountain View", "Villa",
    "2QUEEN HEARING ACCESSIBLE STUDIO SUITE NOSMOK", "Family Room, 2 Bedrooms, sleeps 4", "",
    "Ünïcödé Zimmer mit Meerblick", "King Room with City View"};

HM_TEST(symmetric_and_bounded)
{
    size_t n = HM_ARRAY_SIZE(NAMES);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            float a = S(NAMES[i], NAMES[j]), b = S(NAMES[j], NAMES[i]);
            HM_CHECK(a >= 0.0f && a <= 1.0f);
            HM_CHECK(a - b < 1e-6f && b - a < 1e-6f);
            if (i == j && NAMES[i][0])
                HM_CHECK(a > 0.999f);
        }
}

HM_TEST(best)
{
    const char *c[] = {"Twin Room", "Deluxe King - City View", "King Suite", "Queen Room"};
    hm_room_t cr[4];
    for (int i = 0; i < 4; i++)
        cr[i] = P(c[i]);
    hm_room_t q = P("King Room with City View");
    float s = 0;
    HM_CHECK_INT(hm_room_best(&q, cr, 4, &s), 1);
    HM_CHECK(s > 0.7f);
    HM_CHECK_INT(hm_room_best(&q, cr, 0, &s), -1);
}

HM_TEST(hostile_input)
{
    char big[4096];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)("ab1 ,K(Q)-/\xff\x80"[i % 14]);
    hm_room_t r;
    hm_room_parse(big, sizeof(big), &r);
    HM_CHECK(r.ntok <= HM_ROOM_MAX_TOK && r.nchr <= HM_ROOM_MAX_CHR);
    HM_CHECK(strlen(r.norm) < HM_ROOM_NORM_CAP);
    hm_room_parse("999999999999 beds 0 king 00000000000000000000001 queen", 53, &r);
    HM_CHECK(r.a.bed_count < 21);
    char buf[512];
    hm_room_attrs_format(&r.a, buf, 8);
    HM_CHECK(strlen(buf) < 8);
}

/* Workers score concurrently: same answers as single-threaded. */
static float expected[17][17];
static void *worker(void *arg)
{
    int *bad = arg;
    size_t n = HM_ARRAY_SIZE(NAMES);
    for (int rep = 0; rep < 50; rep++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                if (S(NAMES[i], NAMES[j]) != expected[i][j])
                    (*bad)++;
    return NULL;
}

HM_TEST(thread_safe)
{
    size_t n = HM_ARRAY_SIZE(NAMES);
    HM_CHECK_INT(n, 17);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            expected[i][j] = S(NAMES[i], NAMES[j]);
    pthread_t t[4];
    int bad[4] = {0};
    for (int i = 0; i < 4; i++)
        HM_CHECK_INT(pthread_create(&t[i], NULL, worker, &bad[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        HM_CHECK_INT(bad[i], 0);
    }
}

HM_TEST(classifier)
{
    hm_roomcat_t *c = NULL;
    HM_CHECK_INT(hm_roomcat_new(&c), 0);
    HM_CHECK(hm_roomcat_predict(c, "x", 1) == NULL);
    const char *king[] = {"1 KING BED DELUXE", "KING ROOM CITY VIEW", "GUEST ROOM 1 KING"};
    const char *twin[] = {"2 TWIN BEDS", "TWIN ROOM WITH 2 BEDS", "STANDARD TWIN"};
    for (int i = 0; i < 3; i++) {
        HM_CHECK_INT(hm_roomcat_add(c, king[i], strlen(king[i]), "King Bedroom"), 0);
        HM_CHECK_INT(hm_roomcat_add(c, twin[i], strlen(twin[i]), "Twin Room"), 0);
    }
    HM_CHECK_INT(hm_roomcat_train(c, 5), 0);
    HM_CHECK_STR(hm_roomcat_predict(c, "KING BED OCEAN VIEW", 19), "King Bedroom");
    HM_CHECK_STR(hm_roomcat_predict(c, "SUPERIOR TWIN", 13), "Twin Room");
    hm_roomcat_free(c);
}

HM_TEST_MAIN(HM_TEST_ENTRY(parse_beds), HM_TEST_ENTRY(parse_view_tower_access),
             HM_TEST_ENTRY(rate_words_stripped), HM_TEST_ENTRY(seed_examples),
             HM_TEST_ENTRY(symmetric_and_bounded), HM_TEST_ENTRY(best), HM_TEST_ENTRY(hostile_input),
             HM_TEST_ENTRY(thread_safe), HM_TEST_ENTRY(classifier), HM_TEST_ENTRY(standard_and_lounge))
