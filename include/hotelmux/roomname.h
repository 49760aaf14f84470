/* roomname.h -- room-name normaliser and similarity model (room mapping).
 *
 * hm_room_parse() turns a supplier's room name ("Deluxe Room, 1 King Bed,
 * City View (Non Refundable)") into attributes (class tier, unit type, beds,
 * view, tower/wing, accessibility, smoking, occupancy, bedrooms; rate words
 * such as refundable / breakfast / board are recognised and stripped) plus
 * two sparse hashed vectors: canonical tokens and character 3-grams of the
 * canonical text. hm_room_score() compares two parsed rooms:
 *
 *   sim   = 0.55 * cos(tokens) + 0.45 * cos(char 3-grams)       in 0..1
 *   score = sim * product of attribute penalties                 in 0..1
 *
 * A penalty applies only when both sides state an attribute and disagree
 * ("Twin" vs "King", "Ocean View" vs "City View", accessible vs not); an
 * attribute stated on one side only costs little (suppliers omit things).
 * All weights are hand-set (no fitting on any data set).
 *
 * Thread safety: every table is static const; parse and score touch only
 * their arguments, so workers call them concurrently. Neither allocates:
 * parse once per name, then score pairs (~100 ns a pair).
 *
 * The category classifier (hm_roomcat_*) is a small averaged perceptron over
 * the same features, for normalising free text to a fixed category list
 * (e.g. GDS room descriptions); it is trained by the caller on labelled
 * data and is read-only (thread-safe) once trained. */
#ifndef HM_ROOMNAME_H
#define HM_ROOMNAME_H
#include <stddef.h>
#include <stdint.h>

/* Class tier (bitmask; "standard" and "traditional" are the default = 0). */
enum {
    HM_TIER_SUPERIOR = 1u << 0, HM_TIER_DELUXE = 1u << 1, HM_TIER_PREMIER = 1u << 2,
    HM_TIER_PREMIUM = 1u << 3, HM_TIER_EXECUTIVE = 1u << 4, HM_TIER_CLUB = 1u << 5,
    HM_TIER_LUXURY = 1u << 6, HM_TIER_CLASSIC = 1u << 7, HM_TIER_COMFORT = 1u << 8,
    HM_TIER_BUSINESS = 1u << 9, HM_TIER_ECONOMY = 1u << 10, HM_TIER_GRAND = 1u << 11,
    HM_TIER_COUNT = 12
};
/* Unit type (bitmask; a plain "room" is the default = 0). */
enum {
    HM_UNIT_SUITE = 1u << 0, HM_UNIT_JUNIOR_SUITE = 1u << 1, HM_UNIT_STUDIO = 1u << 2,
    HM_UNIT_VILLA = 1u << 3, HM_UNIT_APARTMENT = 1u << 4, HM_UNIT_FAMILY = 1u << 5,
    HM_UNIT_BUNGALOW = 1u << 6, HM_UNIT_CABANA = 1u << 7, HM_UNIT_COTTAGE = 1u << 8,
    HM_UNIT_LOFT = 1u << 9, HM_UNIT_PENTHOUSE = 1u << 10, HM_UNIT_PRESIDENTIAL = 1u << 11,
    HM_UNIT_CHALET = 1u << 12, HM_UNIT_DORM = 1u << 13,
    HM_UNIT_COUNT = 14
};
/* Bed types (bitmask). */
enum {
    HM_BED_KING = 1u << 0, HM_BED_QUEEN = 1u << 1, HM_BED_DOUBLE = 1u << 2,
    HM_BED_TWIN = 1u << 3, HM_BED_SINGLE = 1u << 4, HM_BED_BUNK = 1u << 5,
    HM_BED_COUNT = 6
};
/* Views (bitmask). HM_VIEW_ANY: "view" with no kind named. */
enum {
    HM_VIEW_CITY = 1u << 0, HM_VIEW_SEA = 1u << 1, HM_VIEW_OCEANFRONT = 1u << 2,
    HM_VIEW_GARDEN = 1u << 3, HM_VIEW_POOL = 1u << 4, HM_VIEW_MOUNTAIN = 1u << 5,
    HM_VIEW_LAKE = 1u << 6, HM_VIEW_RIVER = 1u << 7, HM_VIEW_WATER = 1u << 8,
    HM_VIEW_RESORT = 1u << 9, HM_VIEW_COURTYARD = 1u << 10, HM_VIEW_PARK = 1u << 11,
    HM_VIEW_HARBOUR = 1u << 12, HM_VIEW_LAGOON = 1u << 13, HM_VIEW_GOLF = 1u << 14,
    HM_VIEW_BEACH = 1u << 15, HM_VIEW_LANDMARK = 1u << 16, HM_VIEW_ANY = 1u << 17,
    HM_VIEW_COUNT = 18
};
/* Rate words seen (stripped from the room; reported, never scored). */
enum {
    HM_RATE_REFUNDABLE = 1u << 0, HM_RATE_NONREFUNDABLE = 1u << 1, HM_RATE_BREAKFAST = 1u << 2,
    HM_RATE_HALF_BOARD = 1u << 3, HM_RATE_FULL_BOARD = 1u << 4, HM_RATE_ALL_INCLUSIVE = 1u << 5,
    HM_RATE_ROOM_ONLY = 1u << 6, HM_RATE_OTHER = 1u << 7,
    HM_RATE_COUNT = 8
};

typedef struct {
    uint32_t tier, unit, view, rate;
    uint8_t beds;          /* HM_BED_* mask */
    uint8_t bed_count;     /* number of (main) beds, 0 = not stated */
    uint8_t bed_alt;       /* 1: alternatives ("King or Two Queen") */
    uint8_t sofa_bed;      /* 1: an extra sofa bed */
    uint8_t partial_view;  /* 1: "partial" / "side" view */
    int8_t accessible;     /* 1 accessible, 0 not stated */
    int8_t smoking;        /* 1 smoking, -1 non-smoking, 0 not stated */
    uint8_t occupancy;     /* guests, 0 = not stated */
    uint8_t bedrooms;      /* 0 = not stated */
    uint32_t tower;        /* hash of the tower/wing name, 0 = none */
    char tower_name[24];
} hm_room_attrs_t;

#define HM_ROOM_MAX_TOK 32
#define HM_ROOM_MAX_CHR 112
#define HM_ROOM_NORM_CAP 160

/* Token feature dimensions (0 = words and accessibility, always compared). */
enum { HM_DIM_BED = 1, HM_DIM_VIEW, HM_DIM_TIER, HM_DIM_UNIT, HM_DIM_SMOKING, HM_DIM_BEDROOMS,
       HM_DIM_COUNT };

typedef struct {
    hm_room_attrs_t a;
    uint16_t ntok, nchr;
    uint8_t dims;                      /* bit d: dimension d is stated */
    float dimsq[HM_DIM_COUNT];         /* share of the token norm^2 per dimension */
    uint32_t tok[HM_ROOM_MAX_TOK];     /* sorted feature hashes */
    float tokw[HM_ROOM_MAX_TOK];       /* L2-normalised weights */
    uint32_t chr[HM_ROOM_MAX_CHR];
    float chrw[HM_ROOM_MAX_CHR];
    char norm[HM_ROOM_NORM_CAP];       /* canonical text ("deluxe king 1xking city-view") */
} hm_room_t;

/* Score components and the penalties that applied (for explanations). */
typedef struct {
    float tok_cos, chr_cos, sim, penalty, score;
    uint32_t conflicts;   /* HM_RC_* bits */
} hm_room_explain_t;

enum {
    HM_RC_BED_TYPE = 1u << 0, HM_RC_BED_COUNT = 1u << 1, HM_RC_UNIT = 1u << 2,
    HM_RC_TIER = 1u << 3, HM_RC_VIEW = 1u << 4, HM_RC_PARTIAL = 1u << 5,
    HM_RC_TOWER = 1u << 6, HM_RC_ACCESSIBLE = 1u << 7, HM_RC_SMOKING = 1u << 8,
    HM_RC_OCCUPANCY = 1u << 9, HM_RC_BEDROOMS = 1u << 10,
    HM_RC_COUNT = 11
};

/* Parse name (len bytes, any case, UTF-8 passes through). Never fails; an
 * empty name gives an empty room (scores 0 against everything). */
void hm_room_parse(const char *name, size_t len, hm_room_t *out);
/* Similarity 0..1 of two parsed rooms; symmetric. ex may be NULL. */
float hm_room_score(const hm_room_t *a, const hm_room_t *b, hm_room_explain_t *ex);
/* Index of the best-scoring candidate (first on ties) or -1 when n == 0. */
int hm_room_best(const hm_room_t *q, const hm_room_t *cands, size_t n, float *score);

/* Names for the bits above (NULL past the end), for printing and Lua. */
const char *hm_room_tier_name(unsigned bit);
const char *hm_room_unit_name(unsigned bit);
const char *hm_room_bed_name(unsigned bit);
const char *hm_room_view_name(unsigned bit);
const char *hm_room_rate_name(unsigned bit);
const char *hm_room_conflict_name(unsigned bit);

/* Write the attributes as one line "tier=deluxe unit=- beds=1xking ..." */
void hm_room_attrs_format(const hm_room_attrs_t *a, char *out, size_t cap);

/* ---- category classifier (averaged perceptron over hashed features) ---- */
typedef struct hm_roomcat hm_roomcat_t;
#define HM_ROOMCAT_MAX_LABELS 256
int hm_roomcat_new(hm_roomcat_t **out);
void hm_roomcat_free(hm_roomcat_t *c);
/* Add one labelled example (copied); label interned, up to 256 labels. */
int hm_roomcat_add(hm_roomcat_t *c, const char *text, size_t len, const char *label);
/* Train on the added examples (epochs passes, deterministic order). */
int hm_roomcat_train(hm_roomcat_t *c, int epochs);
/* Predicted label for text (NULL before training). */
const char *hm_roomcat_predict(const hm_roomcat_t *c, const char *text, size_t len);
#endif
