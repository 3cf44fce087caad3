#include "models/claims/synth/gen.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/base/strbuf.h"
#include "tensor/rng.h"

/* Injection rates per claim (tuned for ~5% denials overall, see gen report). */
#define P_DUPLICATE 0.006
#define P_MISMATCH 0.010
#define P_SEX 0.004
#define P_AGE 0.004
#define P_NO_AUTH 0.009
#define P_AMOUNT 0.007
#define P_UPCODER_PROVIDER 0.04 /* share of providers who upcode */
#define P_UPCODE_VISIT 0.3      /* share of their office visits they upcode */
#define AMOUNT_DENY 3.0         /* billed / (norm * units) above this is denied */
#define AMOUNT_FRAUD 6.0
#define DAYS_SPAN 1095 /* service dates 2021-01-01 .. 2023-12-31 */
#define MAX_DX 6
#define MAX_PX 6

/* ---- random draws ---- */

static double U(tg_rng *r) { return tg_rng_next_uniform(r); }
static int R(tg_rng *r, int n) { return n > 0 ? (int)(U(r) * n) : 0; }

static double N01(tg_rng *r)
{
    double u1 = 1.0 - U(r), u2 = U(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#define PICK(r, arr) ((arr)[R((r), (int)(sizeof(arr) / sizeof((arr)[0])))])

/* ---- calendar (days since 1970-01-01, proleptic Gregorian) ---- */

static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static const char *MONTHS[] = {"January", "February", "March",     "April",   "May",      "June",
                               "July",    "August",   "September", "October", "November", "December"};

static void fmt_iso(long day, char out[16])
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
}

/* A date the way clinicians write it: style 0 MM/DD/YYYY, 1 YYYY-MM-DD,
 * 2 "Month D, YYYY", 3 M/D/YYYY. */
static void fmt_date(long day, int style, char *out, size_t len)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    switch (style) {
    case 0: snprintf(out, len, "%02d/%02d/%04d", m, d, y); break;
    case 1: snprintf(out, len, "%04d-%02d-%02d", y, m, d); break;
    case 2: snprintf(out, len, "%s %d, %04d", MONTHS[m - 1], d, y); break;
    default: snprintf(out, len, "%d/%d/%04d", m, d, y); break;
    }
}

static int age_at(long dob, long day)
{
    int y0, m0, d0, y, m, d;
    civil_from_days(dob, &y0, &m0, &d0);
    civil_from_days(day, &y, &m, &d);
    int age = y - y0;
    if (m < m0 || (m == m0 && d < d0)) age--;
    return age;
}

/* ---- people ---- */

static const char *FIRST_F[] = {"Maria",    "Linda",   "Patricia", "Jennifer", "Elizabeth", "Susan",   "Jessica",
                                "Margaret", "Dorothy", "Kimberly", "Lakisha",  "Deborah",   "Yolanda", "Rebecca",
                                "Priya",    "Mei",     "Fatima",   "Svetlana", "Guadalupe", "Ingrid",  "Naomi",
                                "Theresa",  "Olivia",  "Chloe",    "Beatriz",  "Anjali",    "Keisha",  "Rosalind"};
static const char *FIRST_M[] = {"James",   "Robert",    "Michael", "William", "Richard", "Joseph",   "Thomas",
                                "Charles", "Daniel",    "Anthony", "Jamal",   "Hiroshi", "Rajesh",   "Mohammed",
                                "Dmitri",  "Alejandro", "Kwame",   "Tobias",  "Wei",     "Santiago", "Gregory",
                                "Leonard", "Marcus",    "Ethan",   "Nikolai", "Olufemi", "Darnell",  "Francisco"};
static const char *LAST[] = {
    "Okafor",     "Nguyen",     "Kowalski",   "Hernandez",  "Fitzgerald", "Abernathy",  "Castellanos", "Yamamoto",
    "Lindqvist",  "Oyelaran",   "Petrovic",   "McAllister", "Delacroix",  "Banerjee",   "Gutierrez",   "Schwartz",
    "Thibodeaux", "Haddad",     "Kaczmarek",  "Vasquez",    "Oduya",      "Rasmussen",  "Chakraborty", "Goldberg",
    "Moreau",     "Szymanski",  "Washington", "Iverson",    "Pellegrino", "Donnelly",   "Achterberg",  "Mbeki",
    "Sorensen",   "Villanueva", "Zielinski",  "Whitfield",  "Ramanathan", "Lombardi",   "Fairbanks",   "Quinonez",
    "Holloway",   "Brennan",    "Takahashi",  "Adeyemi",    "Marchetti",  "Kristensen", "Ortega",      "Blackwood"};
static const char *STREETS[] = {"Maple",    "Oak",       "Cedar Hollow", "Lincoln",  "Riverside", "Willow Creek",
                                "Sunset",   "Hawthorne", "Magnolia",     "Franklin", "Birch",     "Meadowbrook",
                                "Chestnut", "Highland",  "Pine Ridge",   "Lakeview", "Juniper",   "Elm"};
static const char *SUFFIXES[] = {"Street", "St",        "Avenue", "Ave", "Road",  "Rd",      "Lane",
                                 "Drive",  "Boulevard", "Court",  "Way", "Place", "Terrace", "Circle"};
static const char *CITIES[] = {"Springfield, IL", "Columbus, OH", "Tucson, AZ",    "Raleigh, NC", "Fresno, CA",
                               "Omaha, NE",       "Tulsa, OK",    "Albany, NY",    "Boise, ID",   "Savannah, GA",
                               "Duluth, MN",      "Spokane, WA",  "Lexington, KY", "Provo, UT",   "Hartford, CT"};
static const char *RELATIONS[] = {"daughter", "son",    "wife",   "husband", "sister",
                                  "brother",  "mother", "father", "partner", "caregiver"};

typedef struct member {
    char id[16], mrn[12];
    const char *first, *last, *rel_first, *rel_word;
    char sex;
    long dob;
    char phone[48], phone2[48], street[96], address[160];
    int conds[3], n_conds;
} member;

typedef struct provider {
    char id[12];
    const char *last;
    int spec;
    bool upcoder;
} provider;

static const struct {
    const char *name, *groups;
} SPECS[] = {{"Family Medicine", "general"},
             {"Internal Medicine", "general"},
             {"Endocrinology", "diabetes"},
             {"Cardiology", "cardiology"},
             {"Pulmonology", "respiratory"},
             {"Orthopedic Surgery", "orthopedics"},
             {"Obstetrics and Gynecology", "pregnancy,gynecology"},
             {"Urology", "urology"},
             {"Pediatrics", "pediatrics"},
             {"Psychiatry", "mental_health"},
             {"Hematology and Oncology", "oncology"},
             {"Nephrology", "renal"},
             {"Gastroenterology", "gastro"},
             {"Neurology", "neurology"},
             {"Dermatology", "dermatology"}};
#define N_SPECS ((int)(sizeof SPECS / sizeof SPECS[0]))

/* Symptoms and medications per clinical group (general is the fallback). */
static const struct {
    const char *group, *symptoms[4], *meds[4];
} GROUP_TEXT[] = {
    {"diabetes",
     {"increased thirst and frequent urination", "fatigue and blurred vision", "tingling in both feet",
      "fasting sugars running above 150"},
     {"metformin 1000 mg twice daily", "insulin glargine 22 units at bedtime", "empagliflozin 10 mg daily",
      "semaglutide 0.5 mg weekly"}},
    {"cardiology",
     {"exertional chest pressure", "palpitations and lightheadedness", "ankle swelling and orthopnea",
      "shortness of breath on exertion"},
     {"lisinopril 20 mg daily", "atorvastatin 40 mg nightly", "metoprolol succinate 50 mg daily",
      "apixaban 5 mg twice daily"}},
    {"respiratory",
     {"productive cough and wheezing", "shortness of breath climbing stairs", "nasal congestion and sore throat",
      "snoring with daytime sleepiness"},
     {"albuterol inhaler 2 puffs as needed", "fluticasone-salmeterol 250/50 twice daily", "tiotropium 18 mcg daily",
      "montelukast 10 mg nightly"}},
    {"orthopedics",
     {"pain and stiffness in the knee", "low back pain radiating to the leg", "shoulder pain with overhead reaching",
      "swelling and bruising after a fall"},
     {"naproxen 500 mg twice daily", "acetaminophen 1 g three times daily", "meloxicam 15 mg daily",
      "cyclobenzaprine 5 mg at night"}},
    {"pregnancy",
     {"mild nausea in the mornings", "normal fetal movement", "occasional pelvic pressure",
      "mild swelling of the ankles"},
     {"prenatal vitamin daily", "ferrous sulfate 325 mg daily", "doxylamine-pyridoxine at bedtime",
      "aspirin 81 mg daily"}},
    {"gynecology",
     {"heavy menstrual bleeding", "pelvic pain with menses", "hot flashes and night sweats",
      "vaginal discharge and irritation"},
     {"combined oral contraceptive daily", "ibuprofen 600 mg as needed", "estradiol 0.5 mg daily",
      "metronidazole 500 mg twice daily"}},
    {"urology",
     {"weak urinary stream and nocturia", "urinary frequency and urgency", "flank pain and blood in the urine",
      "burning with urination"},
     {"tamsulosin 0.4 mg daily", "finasteride 5 mg daily", "oxybutynin 5 mg twice daily",
      "nitrofurantoin 100 mg twice daily"}},
    {"pediatrics",
     {"ear pulling and fever", "runny nose and cough", "poor feeding and fussiness", "rash on the hands and mouth"},
     {"amoxicillin 400 mg/5 mL twice daily", "acetaminophen suspension as needed", "saline nasal drops",
      "zinc oxide barrier cream"}},
    {"mental_health",
     {"low mood and poor sleep", "persistent worry and restlessness", "intrusive memories and nightmares",
      "cravings and difficulty cutting down"},
     {"sertraline 100 mg daily", "escitalopram 10 mg daily", "bupropion XL 150 mg daily",
      "buprenorphine-naloxone 8/2 mg daily"}},
    {"oncology",
     {"fatigue during treatment cycles", "nausea after infusion", "unintentional weight loss", "a new palpable mass"},
     {"ondansetron 8 mg as needed", "dexamethasone 4 mg on treatment days", "anastrozole 1 mg daily",
      "prochlorperazine 10 mg as needed"}},
    {"renal",
     {"leg swelling and reduced urine output", "fatigue and itching", "poor appetite", "cramps during dialysis"},
     {"sevelamer 800 mg with meals", "calcitriol 0.25 mcg daily", "furosemide 40 mg daily",
      "sodium bicarbonate 650 mg twice daily"}},
    {"gastro",
     {"heartburn after meals", "abdominal pain and bloating", "a change in bowel habits", "dark stools"},
     {"omeprazole 40 mg daily", "dicyclomine 20 mg as needed", "mesalamine 1.2 g daily", "polyethylene glycol daily"}},
    {"neurology",
     {"recurrent throbbing headaches", "episodes of staring and confusion", "numbness in the hands",
      "tremor and slowed movement"},
     {"topiramate 50 mg twice daily", "levetiracetam 500 mg twice daily", "carbidopa-levodopa 25/100 three times daily",
      "gabapentin 300 mg three times daily"}},
    {"dermatology",
     {"itchy scaly plaques", "a changing mole", "red painful swelling of the leg", "thickened discolored nails"},
     {"triamcinolone 0.1% cream twice daily", "cephalexin 500 mg four times daily", "terbinafine 250 mg daily",
      "tretinoin 0.025% cream nightly"}},
    {"general",
     {"fatigue", "mild fever and body aches", "no new complaints at a routine follow-up", "nausea"},
     {"multivitamin daily", "levothyroxine 75 mcg daily", "vitamin D3 2000 units daily", "cetirizine 10 mg daily"}},
};
#define N_GROUP_TEXT ((int)(sizeof GROUP_TEXT / sizeof GROUP_TEXT[0]))

static const char *FILLER[] = {
    "Review of systems: negative for chest pain, syncope, hemoptysis and unintended weight change; all other systems "
    "reviewed and negative except as noted in the history.",
    "Physical exam: alert and oriented, in no acute distress. Heart regular rate and rhythm without murmur. Lungs "
    "clear to auscultation bilaterally without wheezes or crackles. Abdomen soft, nontender, bowel sounds present.",
    "Extremities without cyanosis or clubbing; trace edema at the ankles. Skin warm and dry. Neurologic exam nonfocal "
    "with normal gait and strength 5/5 in all extremities.",
    "Social history: lives at home, independent in activities of daily living. Drinks alcohol socially, denies illicit "
    "drug use. Walks about twenty minutes most days.",
    "Family history notable for hypertension and type 2 diabetes in a parent and colon cancer in a grandparent "
    "diagnosed in the seventies.",
    "Counseled on diet, regular physical activity and medication adherence. Discussed warning signs that should prompt "
    "an emergency visit. Questions answered and the patient verbalized understanding of the plan.",
    "Medication reconciliation completed; no interactions of concern were identified. Refills sent to the preferred "
    "pharmacy. Allergies reviewed: penicillin causes hives.",
    "Preventive care reviewed: influenza vaccine offered this season, colorectal and other age-appropriate screening "
    "discussed, fall risk assessed and low.",
    "Patient reports sleeping six to seven hours per night, appetite fair, mood stable. No recent hospitalizations or "
    "emergency visits since the last encounter.",
    "Prior records from the referring office were reviewed in detail, including imaging reports, laboratory trends "
    "over the past year and the previous specialist consultation.",
    "Shared decision making: risks, benefits and alternatives of the proposed treatment were discussed, including the "
    "option of watchful waiting. The patient agrees with the plan.",
    "Nursing note: vitals obtained on arrival, patient ambulated to the room without assistance, fall precautions "
    "reviewed, medication list updated in the chart.",
};

static const char *LABS[] = {"hemoglobin A1c %.1f%%", "creatinine %.2f mg/dL", "LDL cholesterol %.0f mg/dL",
                             "TSH %.2f mIU/L",        "hemoglobin %.1f g/dL",  "potassium %.1f mmol/L"};
static const double LAB_LO[] = {5.2, 0.6, 60, 0.5, 9.0, 3.4}, LAB_HI[] = {10.5, 3.5, 190, 5.5, 15.5, 5.6};

/* ---- generator state ---- */

typedef struct code_list {
    const claims_code **c;
    int n;
} code_list;

typedef struct gen {
    const claims_codes *t;
    claims_gen_opts o;
    member *members;
    int n_members;
    provider *providers;
    int n_providers;
    code_list dx[CLAIMS_MAX_GROUPS], px[CLAIMS_MAX_GROUPS]; /* per group, E/M excluded */
    code_list all_dx, all_px;
    int spec_mask[N_SPECS];
    int *by_group[CLAIMS_MAX_GROUPS]; /* providers covering group g */
    int n_by_group[CLAIMS_MAX_GROUPS];
    const claims_code *em_new[6], *em_est[6], *em_er[6], *em_inpt[6]; /* by level */
    uint64_t *seen; /* signatures of emitted claims (open addressing, 0 = empty) */
    size_t seen_cap;
} gen;

/* One claim under construction; everything derives from its stream. */
typedef struct claim {
    tg_rng r;
    int m, p, group;
    long day_from, day_to;
    int age;
    const claims_code *dx[MAX_DX + 2];
    int n_dx;
    const claims_code *px[MAX_PX + 2];
    int units[MAX_PX + 2];
    double billed[MAX_PX + 2];
    int n_px;
    const char *pos;
    bool prior_auth, pa_pending, upcoded, long_note;
    int doc_level; /* E/M complexity documented in the note, 0 when no visit */
    claims_strbuf note;
    char planted_buf[CLAIMS_MAX_PLANTED][160];
    int n_planted;
} claim;

static bool eligible(const claims_code *c, char sex, int age)
{
    return (c->sex == '-' || c->sex == sex) && age >= c->age_min && age <= c->age_max;
}

static bool is_em(const claims_code *c) { return c->kind == CLAIMS_CODE_CPT && strncmp(c->code, "992", 3) == 0; }

static tg_status list_add(code_list *l, const claims_code *c)
{
    const claims_code **p = realloc(l->c, (size_t)(l->n + 1) * sizeof *p);
    if (!p) return tg_error(TG_ERR_OOM, "claims_generate: out of memory");
    l->c = p;
    l->c[l->n++] = c;
    return TG_OK;
}

/* Random eligible entry of a list, or NULL after a bounded number of tries. */
static const claims_code *pick_eligible(tg_rng *r, const code_list *l, char sex, int age)
{
    for (int tries = 0; tries < 24 && l->n; tries++) {
        const claims_code *c = l->c[R(r, l->n)];
        if (eligible(c, sex, age)) return c;
    }
    return NULL;
}

static tg_status index_codes(gen *g)
{
    const claims_codes *t = g->t;
    for (int i = 0; i < t->n; i++) {
        const claims_code *c = &t->codes[i];
        if (is_em(c)) {
            int last = c->code[4] - '0';
            const claims_code **slot = NULL;
            if (!strncmp(c->code, "9920", 4))
                slot = &g->em_new[last];
            else if (!strncmp(c->code, "9921", 4))
                slot = &g->em_est[last];
            else if (!strncmp(c->code, "9928", 4))
                slot = &g->em_er[last];
            else if (!strncmp(c->code, "9922", 4))
                slot = &g->em_inpt[last];
            if (slot) *slot = c;
            continue;
        }
        TG_TRY(list_add(c->kind == CLAIMS_CODE_ICD10CM ? &g->all_dx : &g->all_px, c));
        for (int k = 0; k < t->n_groups; k++)
            if (c->groups & (1u << k)) TG_TRY(list_add(c->kind == CLAIMS_CODE_ICD10CM ? &g->dx[k] : &g->px[k], c));
    }
    for (int l = 2; l <= 5; l++)
        if (!g->em_est[l] || !g->em_new[l])
            return tg_error(TG_ERR_FORMAT, "claims_generate: code table lacks office visit codes 9920%d/9921%d", l, l);
    if (!g->t->general_mask) return tg_error(TG_ERR_FORMAT, "claims_generate: code table has no 'general' group");
    return TG_OK;
}

static void make_member(gen *g, int i, member *m)
{
    tg_rng r = {tg_rng_bits(g->o.seed ^ 0x6d656d62ULL, (uint64_t)i), 0};
    m->sex = U(&r) < 0.52 ? 'F' : 'M';
    m->first = m->sex == 'F' ? PICK(&r, FIRST_F) : PICK(&r, FIRST_M);
    m->last = PICK(&r, LAST);
    double u = U(&r);
    int age0 = u < 0.15 ? 1 + R(&r, 17) : u < 0.70 ? 18 + R(&r, 47) : 65 + R(&r, 28);
    m->dob = days_from_civil(2021, 1, 1) - age0 * 365L - R(&r, 365);
    static const char L[] = "ABCDEFGHJKLMNPQRSTUVWXYZ";
    snprintf(m->id, sizeof m->id, "%c%c%c%09u", L[R(&r, 24)], L[R(&r, 24)], L[R(&r, 24)], (unsigned)R(&r, 1000000000));
    snprintf(m->mrn, sizeof m->mrn, "%08u", 10000000u + (unsigned)R(&r, 89999999));
    int area = 201 + R(&r, 780), ex = 200 + R(&r, 799), num = R(&r, 10000);
    switch (R(&r, 4)) {
    case 0: snprintf(m->phone, sizeof m->phone, "(%03d) %03d-%04d", area, ex, num); break;
    case 1: snprintf(m->phone, sizeof m->phone, "%03d-%03d-%04d", area, ex, num); break;
    case 2: snprintf(m->phone, sizeof m->phone, "%03d.%03d.%04d", area, ex, num); break;
    default: snprintf(m->phone, sizeof m->phone, "+1 %03d %03d %04d", area, ex, num); break;
    }
    snprintf(m->phone2, sizeof m->phone2, "%03d-%03d-%04d", 201 + R(&r, 780), 200 + R(&r, 799), R(&r, 10000));
    snprintf(m->street, sizeof m->street, "%d %s %s", 10 + R(&r, 9980), PICK(&r, STREETS), PICK(&r, SUFFIXES));
    snprintf(m->address, sizeof m->address, "%s, %s %05d", m->street, PICK(&r, CITIES), 10000 + R(&r, 89999));
    m->rel_word = PICK(&r, RELATIONS);
    m->rel_first = U(&r) < 0.5 ? PICK(&r, FIRST_F) : PICK(&r, FIRST_M);
    /* chronic conditions: groups with diagnoses that fit this member */
    int age = age_at(m->dob, days_from_civil(2022, 1, 1));
    int ped = claims_codes_group(g->t, "pediatrics"), preg = claims_codes_group(g->t, "pregnancy");
    int gen_g = claims_codes_group(g->t, "general");
    if (age < 18 && ped >= 0) m->conds[m->n_conds++] = ped;
    if (m->sex == 'F' && age >= 17 && age <= 42 && preg >= 0 && U(&r) < 0.3) m->conds[m->n_conds++] = preg;
    int want = 1 + R(&r, 3);
    for (int tries = 0; tries < 40 && m->n_conds < want; tries++) {
        int k = R(&r, g->t->n_groups);
        if (k == ped || k == preg || k == gen_g) continue;
        bool dup = false;
        for (int j = 0; j < m->n_conds; j++) dup |= m->conds[j] == k;
        if (!dup && pick_eligible(&r, &g->dx[k], m->sex, age)) m->conds[m->n_conds++] = k;
    }
    if (!m->n_conds) m->conds[m->n_conds++] = gen_g;
}

static tg_status make_population(gen *g)
{
    g->n_members = (int)(g->o.n / 3 + 8);
    g->n_providers = (int)(g->o.n / 25 + 2 * N_SPECS);
    g->members = calloc((size_t)g->n_members, sizeof *g->members);
    g->providers = calloc((size_t)g->n_providers, sizeof *g->providers);
    if (!g->members || !g->providers) return tg_error(TG_ERR_OOM, "claims_generate: out of memory");
    for (int i = 0; i < g->n_members; i++) make_member(g, i, &g->members[i]);
    for (int s = 0; s < N_SPECS; s++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", SPECS[s].groups);
        for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
            int k = claims_codes_group(g->t, w);
            if (k >= 0) g->spec_mask[s] |= 1 << k;
        }
    }
    for (int k = 0; k < g->t->n_groups; k++)
        if (!(g->by_group[k] = malloc((size_t)g->n_providers * sizeof(int))))
            return tg_error(TG_ERR_OOM, "claims_generate: out of memory");
    for (int i = 0; i < g->n_providers; i++) {
        provider *p = &g->providers[i];
        tg_rng r = {tg_rng_bits(g->o.seed ^ 0x70726f76ULL, (uint64_t)i), 0};
        p->spec = i < N_SPECS ? i : R(&r, N_SPECS); /* every specialty at least once */
        p->last = PICK(&r, LAST);
        snprintf(p->id, sizeof p->id, "1%09u", (unsigned)R(&r, 1000000000));
        p->upcoder = U(&r) < P_UPCODER_PROVIDER;
        for (int k = 0; k < g->t->n_groups; k++)
            if (g->spec_mask[p->spec] & (1 << k)) g->by_group[k][g->n_by_group[k]++] = i;
    }
    return TG_OK;
}

/* ---- one claim: fields ---- */

static uint32_t dx_groups(const claim *c)
{
    uint32_t m = 0;
    for (int i = 0; i < c->n_dx; i++) m |= c->dx[i]->groups;
    return m;
}

static bool has_code(const claim *c, const claims_code *x)
{
    for (int i = 0; i < c->n_dx; i++)
        if (c->dx[i] == x) return true;
    for (int i = 0; i < c->n_px; i++)
        if (c->px[i] == x) return true;
    return false;
}

static void add_px(claim *c, const claims_code *x)
{
    if (!x || c->n_px >= MAX_PX + 2 || has_code(c, x)) return;
    int units = 1;
    if (x->kind == CLAIMS_CODE_HCPCS && (x->code[0] == 'J' || x->code[0] == 'Q'))
        units = 1 + R(&c->r, 4);
    else if (!strcmp(x->code, "97110") || !strcmp(x->code, "97140"))
        units = 1 + R(&c->r, 3);
    double f = exp(0.1 * N01(&c->r));
    f = f < 0.75 ? 0.75 : f > 1.4 ? 1.4 : f;
    c->px[c->n_px] = x;
    c->units[c->n_px] = units;
    c->billed[c->n_px] = round(x->amount * units * f * 100.0) / 100.0;
    c->n_px++;
}

static void add_dx(claim *c, const claims_code *x)
{
    if (x && c->n_dx < MAX_DX + 2 && !has_code(c, x)) c->dx[c->n_dx++] = x;
}

static int general_group(const gen *g) { return __builtin_ctz(g->t->general_mask); }

/* Office, outpatient, emergency or inpatient visit with its E/M code. */
static void add_visit(gen *g, claim *c)
{
    const provider *pv = &g->providers[c->p];
    double u = U(&c->r);
    static const int level_w[] = {0, 0, 15, 40, 35, 10}; /* documented complexity 2..5 */
    int w = R(&c->r, 100), L = 2;
    while (L < 5 && w >= level_w[L]) w -= level_w[L++];
    c->doc_level = L;
    if (u < 0.06 && g->em_er[3]) {
        c->pos = "23";
        c->day_to = c->day_from;
        const claims_code *e = g->em_er[L < 3 ? 3 : L];
        add_px(c, e ? e : g->em_er[3]);
    } else if (u < 0.10 && g->em_inpt[1] && g->em_inpt[3]) {
        c->pos = "21";
        c->day_to = c->day_from + 1 + R(&c->r, 5);
        add_px(c, L <= 3 ? g->em_inpt[1] : g->em_inpt[3]);
    } else {
        c->pos = u < 0.18 ? "22" : "11";
        int billed = L;
        if (pv->upcoder && U(&c->r) < P_UPCODE_VISIT) {
            c->doc_level = L = 2 + R(&c->r, 2);
            billed = L + 2;
            c->upcoded = true;
        }
        add_px(c, U(&c->r) < 0.15 ? g->em_new[billed] : g->em_est[billed]);
    }
}

/* A procedure from group k, preferring ones without prior authorization. */
static const claims_code *group_px(gen *g, claim *c, int k, char sex)
{
    const claims_code *x = pick_eligible(&c->r, &g->px[k], sex, c->age);
    if (x && x->prior_auth && U(&c->r) < 0.6) x = pick_eligible(&c->r, &g->px[k], sex, c->age);
    return x;
}

/* Injects at most one adjudication problem; the label is derived later from
 * the resulting fields, so accidental problems are labeled too. */
static void inject(gen *g, claim *c, const member *m)
{
    double u = U(&c->r);
    if ((u -= P_MISMATCH) < 0) {
        uint32_t have = dx_groups(c) | g->t->general_mask;
        for (int tries = 0; tries < 40; tries++) {
            const claims_code *x = g->all_px.c[R(&c->r, g->all_px.n)];
            if (!(x->groups & have) && eligible(x, m->sex, c->age) && !is_em(x)) {
                add_px(c, x);
                if (x->prior_auth) c->prior_auth = true;
                return;
            }
        }
    } else if ((u -= P_SEX) < 0) {
        for (int tries = 0; tries < 200; tries++) {
            const claims_code *x = g->all_dx.c[R(&c->r, g->all_dx.n)];
            if (x->sex != '-' && x->sex != m->sex && c->age >= x->age_min && c->age <= x->age_max) {
                add_dx(c, x);
                return;
            }
        }
    } else if ((u -= P_AGE) < 0) {
        bool as_px = U(&c->r) < 0.5;
        const code_list *l = as_px ? &g->all_px : &g->all_dx;
        for (int tries = 0; tries < 200; tries++) {
            const claims_code *x = l->c[R(&c->r, l->n)];
            if ((x->sex == '-' || x->sex == m->sex) && (c->age < x->age_min || c->age > x->age_max) &&
                (!as_px || (x->groups & (dx_groups(c) | g->t->general_mask)))) {
                if (as_px)
                    add_px(c, x);
                else
                    add_dx(c, x);
                if (x->prior_auth) c->prior_auth = true;
                return;
            }
        }
    } else if ((u -= P_NO_AUTH) < 0) {
        bool any = false;
        for (int i = 0; i < c->n_px; i++) any |= c->px[i]->prior_auth;
        for (int tries = 0; tries < 60 && !any; tries++) {
            const claims_code *x = pick_eligible(&c->r, &g->px[c->group], m->sex, c->age);
            if (x && x->prior_auth) {
                add_px(c, x);
                any = true;
            }
        }
        if (any) {
            c->prior_auth = false;
            c->pa_pending = U(&c->r) < 0.5;
        }
    } else if ((u -= P_AMOUNT) < 0) {
        for (int tries = 0; tries < 8; tries++) {
            int i = R(&c->r, c->n_px);
            if (c->px[i]->amount > 0) {
                c->billed[i] = round(c->billed[i] * (3.6 + 8.0 * U(&c->r)) * 100.0) / 100.0;
                return;
            }
        }
    }
}

static void build_fields(gen *g, claim *c, long k)
{
    c->r = (tg_rng){tg_rng_bits(g->o.seed ^ 0x636c6d73ULL, (uint64_t)k), 1}; /* draw 0 = duplicate flag */
    c->long_note = U(&c->r) < g->o.long_frac;
    double um = U(&c->r);
    c->m = (int)(g->n_members * um * um); /* a few members have many claims */
    const member *m = &g->members[c->m];
    c->day_from = c->day_to = days_from_civil(2021, 1, 1) + R(&c->r, DAYS_SPAN);
    if (c->day_from <= m->dob) c->day_from = c->day_to = m->dob + 1 + R(&c->r, 300);
    c->age = age_at(m->dob, c->day_from);
    int gg = general_group(g);
    c->group = U(&c->r) < 0.78 ? m->conds[R(&c->r, m->n_conds)] : gg;
    /* diagnoses: 1-3 of the claim's group, sometimes one of another condition */
    int n = 1 + R(&c->r, 3);
    for (int i = 0; i < n; i++) add_dx(c, pick_eligible(&c->r, &g->dx[c->group], m->sex, c->age));
    if (!c->n_dx) {
        c->group = gg;
        add_dx(c, pick_eligible(&c->r, &g->dx[gg], m->sex, c->age));
    }
    if (!c->n_dx) add_dx(c, g->dx[gg].c[0]);
    if (U(&c->r) < 0.3) {
        int k2 = m->conds[R(&c->r, m->n_conds)];
        add_dx(c, pick_eligible(&c->r, &g->dx[k2], m->sex, c->age));
    }
    /* provider of the group's specialty, else primary care */
    int gk = g->n_by_group[c->group] ? c->group : gg;
    c->p = g->by_group[gk][R(&c->r, g->n_by_group[gk])];
    c->pos = "11";
    if (U(&c->r) < 0.9) add_visit(g, c);
    int np = (int)(U(&c->r) * U(&c->r) * 4.0);
    for (int i = 0; i < np; i++) add_px(c, group_px(g, c, c->group, m->sex));
    if (U(&c->r) < 0.25) add_px(c, group_px(g, c, gg, m->sex)); /* labs, vaccines */
    if (!c->n_px) add_visit(g, c);
    bool needs_pa = false;
    for (int i = 0; i < c->n_px; i++) needs_pa |= c->px[i]->prior_auth;
    c->prior_auth = needs_pa || U(&c->r) < 0.05;
    inject(g, c, m);
}

/* Rule outcomes for the finished fields (duplicates are checked by the caller). */
static unsigned adjudicate(const gen *g, const claim *c, bool *fraud)
{
    const member *m = &g->members[c->m];
    unsigned why = 0;
    uint32_t support = dx_groups(c);
    for (int i = 0; i < c->n_dx; i++) {
        const claims_code *x = c->dx[i];
        if (x->sex != '-' && x->sex != m->sex) why |= 1u << CLAIMS_DENY_SEX;
        if (c->age < x->age_min || c->age > x->age_max) why |= 1u << CLAIMS_DENY_AGE;
    }
    for (int i = 0; i < c->n_px; i++) {
        const claims_code *x = c->px[i];
        if (x->sex != '-' && x->sex != m->sex) why |= 1u << CLAIMS_DENY_SEX;
        if (c->age < x->age_min || c->age > x->age_max) why |= 1u << CLAIMS_DENY_AGE;
        if (!(x->groups & (support | g->t->general_mask))) why |= 1u << CLAIMS_DENY_MISMATCH;
        if (x->prior_auth && !c->prior_auth) why |= 1u << CLAIMS_DENY_NO_AUTH;
        double norm = x->amount * c->units[i];
        if (norm > 0 && c->billed[i] > AMOUNT_DENY * norm) {
            why |= 1u << CLAIMS_DENY_AMOUNT;
            if (c->billed[i] > AMOUNT_FRAUD * norm) *fraud = true;
        }
    }
    if (c->upcoded) {
        why |= 1u << CLAIMS_DENY_UPCODE;
        *fraud = true;
    }
    return why;
}

static uint64_t signature(const claim *c)
{
    uint64_t h = 0xcbf29ce484222325ULL;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 0x100000001b3ULL)
    MIX(c->m);
    MIX(c->p);
    MIX(c->day_from);
    for (int i = 0; i < c->n_dx; i++)
        for (const char *s = c->dx[i]->code; *s; s++) MIX(*s);
    for (int i = 0; i < c->n_px; i++)
        for (const char *s = c->px[i]->code; *s; s++) MIX(*s);
#undef MIX
    return h ? h : 1;
}

/* Inserts h; returns true when it was already there. */
static bool seen_insert(gen *g, uint64_t h)
{
    size_t mask = g->seen_cap - 1, i = (size_t)h & mask;
    while (g->seen[i]) {
        if (g->seen[i] == h) return true;
        i = (i + 1) & mask;
    }
    g->seen[i] = h;
    return false;
}

/* ---- one claim: the note ---- */

static void plant(claim *c, const char *s)
{
    if (c->n_planted < CLAIMS_MAX_PLANTED) snprintf(c->planted_buf[c->n_planted++], sizeof c->planted_buf[0], "%s", s);
}

static int group_text(const gen *g, int k)
{
    for (int i = 0; i < N_GROUP_TEXT; i++)
        if (!strcmp(GROUP_TEXT[i].group, g->t->group_names[k])) return i;
    return N_GROUP_TEXT - 1;
}

static const char *proc_kind(const claims_code *x) { return x->kind == CLAIMS_CODE_HCPCS ? "HCPCS" : "CPT"; }

static void note_vitals(claim *c)
{
    int sys = 104 + R(&c->r, 60), dia = 60 + R(&c->r, 36);
    double wt = c->age < 18 ? 4.0 + c->age * 3.6 + 4.0 * U(&c->r) : 52.0 + 60.0 * U(&c->r);
    claims_sb_printf(&c->note, "Vitals: BP %d/%d, HR %d, RR %d, Temp %.1f F, SpO2 %d%% on room air, weight %.1f kg.\n",
                     sys, dia, 56 + R(&c->r, 50), 12 + R(&c->r, 10), 97.0 + 0.1 * R(&c->r, 30), 91 + R(&c->r, 9), wt);
}

static void note_lab(claim *c)
{
    int i = R(&c->r, (int)(sizeof LABS / sizeof LABS[0]));
    claims_sb_printf(&c->note, "Labs reviewed: ");
    claims_sb_printf(&c->note, LABS[i], LAB_LO[i] + (LAB_HI[i] - LAB_LO[i]) * U(&c->r));
    claims_sb_printf(&c->note, ", drawn %d days ago.\n", 2 + R(&c->r, 60));
}

/* A prior visit summary, the bulk of long notes. */
static void note_interval(gen *g, claim *c, const member *m, const char *title, int gt)
{
    char date[32];
    fmt_date(c->day_from - 7 - R(&c->r, 1500), R(&c->r, 2) ? 0 : 2, date, sizeof date);
    claims_sb_printf(&c->note, "Interval history %s: %s reported %s. ", date, title[0] ? title : m->first,
                     GROUP_TEXT[gt].symptoms[R(&c->r, 4)]);
    if (title[0] && U(&c->r) < 0.3) claims_sb_printf(&c->note, "(%s %s) ", title, m->last);
    claims_sb_printf(&c->note, "BP %d/%d, HR %d. Continued %s. Seen by Dr. %s; plan unchanged.\n", 104 + R(&c->r, 60),
                     60 + R(&c->r, 36), 56 + R(&c->r, 50), GROUP_TEXT[gt].meds[R(&c->r, 4)],
                     g->providers[R(&c->r, g->n_providers)].last);
    if (U(&c->r) < 0.4) note_lab(c);
}

static void write_note(gen *g, claim *c)
{
    const member *m = &g->members[c->m];
    const provider *pv = &g->providers[c->p];
    int gt = group_text(g, c->group);
    claims_strbuf *b = &c->note;
    bool kid = c->age < 18;
    const char *title = kid ? "" : m->sex == 'F' ? "Ms." : "Mr.";
    char dob[32], full[64], dos[32];
    int dob_style = R(&c->r, 4);
    fmt_date(m->dob, dob_style, dob, sizeof dob);
    fmt_date(c->day_from, 0, dos, sizeof dos);
    snprintf(full, sizeof full, "%s %s", m->first, m->last);
    double target = c->long_note ? 36000.0 * exp(1.2 * U(&c->r)) : 1700.0 * exp(0.45 * N01(&c->r));
    if (!c->long_note) target = target < 600 ? 600 : target > 9000 ? 9000 : target;

    int style = R(&c->r, 3);
    if (style == 0) {
        claims_sb_printf(b, "PROGRESS NOTE\nPatient: %s    DOB: %s    Member ID: %s    MRN: %s\n", full, dob, m->id,
                         m->mrn);
        plant(c, full);
        plant(c, m->mrn);
    } else if (style == 1) {
        char upper[32];
        snprintf(upper, sizeof upper, "%s", m->last);
        for (char *s = upper; *s; s++) *s = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
        claims_sb_printf(b, "CLINIC NOTE\nNAME: %s, %s | Member #%s | Date of birth: %s\n", upper, m->first, m->id,
                         dob);
        plant(c, upper);
        plant(c, m->first);
    } else {
        claims_sb_printf(b, "Visit note for member %s.\n", m->id);
    }
    plant(c, m->id);
    plant(c, dob);
    claims_sb_printf(b, "Date of service: %s. Rendering provider: Dr. %s, %s.\n", dos, pv->last, SPECS[pv->spec].name);
    bool contact_first = U(&c->r) < 0.6, emergency = U(&c->r) < 0.3;
    if (contact_first) {
        claims_sb_printf(b, "Contact phone %s; home address %s.\n", m->phone, m->address);
        plant(c, m->phone);
        plant(c, m->address);
    }
    const claims_code *d0 = c->dx[0];
    claims_sb_printf(b, "Chief complaint: %s.\n", GROUP_TEXT[gt].symptoms[R(&c->r, 4)]);
    const char *who = kid ? (m->sex == 'F' ? "girl" : "boy") : (m->sex == 'F' ? "woman" : "man");
    if (kid)
        claims_sb_printf(b, "History: %s is a %d-year-old %s", m->first, c->age, who);
    else
        claims_sb_printf(b, "History: %s %s is a %d-year-old %s", title, m->last, c->age, who);
    if (style == 2) {
        claims_sb_printf(b, " (DOB %s)", dob);
        plant(c, kid ? m->first : m->last);
    }
    claims_sb_printf(b, " with %s (%s) who presents with %s for %d %s.", d0->description, d0->code,
                     GROUP_TEXT[gt].symptoms[R(&c->r, 4)], 1 + R(&c->r, 10), R(&c->r, 2) ? "weeks" : "months");
    for (int i = 1; i < c->n_dx; i++)
        claims_sb_printf(b, " Also followed for %s (%s).", c->dx[i]->description, c->dx[i]->code);
    claims_sb_printf(b, "\nMedications: %s; %s.\n", GROUP_TEXT[gt].meds[R(&c->r, 4)], GROUP_TEXT[gt].meds[R(&c->r, 4)]);
    note_vitals(c);
    if (emergency) {
        char rel[64];
        snprintf(rel, sizeof rel, "%s %s", m->rel_first, U(&c->r) < 0.5 ? m->last : PICK(&c->r, LAST));
        claims_sb_printf(b, "Accompanied today by %s %s; emergency contact number %s.\n", m->rel_word, rel, m->phone2);
        plant(c, rel);
        plant(c, m->phone2);
    }
    while (!b->oom && (double)b->n + 700.0 < target) {
        double u = U(&c->r);
        if (c->long_note && u < 0.7)
            note_interval(g, c, m, title, gt);
        else if (u < 0.85)
            claims_sb_printf(b, "%s\n", FILLER[R(&c->r, (int)(sizeof FILLER / sizeof FILLER[0]))]);
        else
            note_lab(c);
    }
    if (!contact_first) {
        claims_sb_printf(b, "Demographics confirmed: phone %s, address %s.\n", m->phone, m->address);
        plant(c, m->phone);
        plant(c, m->address);
    }
    static const char *status[] = {"stable", "improving", "not at goal", "newly diagnosed", "chronic, monitored"};
    claims_sb_printf(b, "Assessment:\n");
    for (int i = 0; i < c->n_dx; i++)
        claims_sb_printf(b, "%d. %s (%s) - %s.\n", i + 1, c->dx[i]->description, c->dx[i]->code, PICK(&c->r, status));
    claims_sb_printf(b, "Plan and services:\n");
    for (int i = 0; i < c->n_px; i++)
        claims_sb_printf(b, "- %s (%s %s) x%d\n", c->px[i]->description, proc_kind(c->px[i]), c->px[i]->code,
                         c->units[i]);
    if (c->doc_level) {
        static const char *mdm[] = {
            "", "minimal", "straightforward", "low complexity", "moderate complexity", "high complexity"};
        static const int tmin[] = {0, 5, 10, 20, 30, 40};
        claims_sb_printf(b, "Medical decision making: %s. Total time on the date of the encounter %d minutes.\n",
                         mdm[c->doc_level], tmin[c->doc_level] + R(&c->r, 10));
    }
    if (c->prior_auth)
        claims_sb_printf(b, "Prior authorization PA-%05d approved and on file.\n", R(&c->r, 100000));
    else if (c->pa_pending)
        claims_sb_printf(b, "Authorization request submitted; determination pending at time of service.\n");
    claims_sb_printf(b, "Electronically signed by Dr. %s on %s.", pv->last, dos);
}

/* ---- driver ---- */

static bool is_duplicate_draw(const gen *g, long k)
{
    uint64_t s = tg_rng_bits(g->o.seed ^ 0x636c6d73ULL, (uint64_t)k);
    return k > 0 && (double)(tg_rng_bits(s, 0) >> 11) * (1.0 / 9007199254740992.0) < P_DUPLICATE;
}

static json_t *claim_json(const gen *g, const claim *c, long index, unsigned why, bool fraud)
{
    const member *m = &g->members[c->m];
    const provider *pv = &g->providers[c->p];
    char id[24], name[64], dob[16], from[16], to[16];
    snprintf(id, sizeof id, "CLM%08ld", index + 1);
    snprintf(name, sizeof name, "%s %s", m->first, m->last);
    fmt_iso(m->dob, dob);
    fmt_iso(c->day_from, from);
    fmt_iso(c->day_to, to);
    json_t *dx = json_array(), *px = json_array(), *reasons = json_array();
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++)
        if ((why >> r) & 1) json_array_append_new(reasons, json_string(claims_deny_reason_name((claims_deny_reason)r)));
    for (int i = 0; i < c->n_dx; i++) json_array_append_new(dx, json_string(c->dx[i]->code));
    for (int i = 0; i < c->n_px; i++)
        json_array_append_new(px, json_pack("{s:s, s:i, s:f}", "code", c->px[i]->code, "units", c->units[i],
                                            "billed_amount", c->billed[i]));
    return json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:i, s:s}, s:{s:s, s:s}, s:s, s:s, s:o, s:o, s:s, s:b, s:s%, s:s, s:o, s:b}",
        "claim_id", id, "member_id", m->id, "patient", "name", name, "dob", dob, "age", c->age, "sex",
        m->sex == 'F' ? "F" : "M", "provider", "id", pv->id, "specialty", SPECS[pv->spec].name, "service_date_from",
        from, "service_date_to", to, "diagnosis_codes", dx, "procedures", px, "place_of_service", c->pos, "prior_auth",
        c->prior_auth, "note", c->note.p ? c->note.p : "", c->note.n, "decision", why ? "deny" : "approve",
        "deny_reasons", reasons, "fraud", fraud);
}

/* Generates, labels and writes claim i. */
static tg_status emit_claim(gen *g, long i, FILE *out, claims_gen_fn fn, void *user, claims_gen_stats *st)
{
    long src = i;
    if (is_duplicate_draw(g, i)) {
        tg_rng r = {tg_rng_bits(g->o.seed ^ 0x64757073ULL, (uint64_t)i), 0};
        for (int tries = 0; tries < 8; tries++) {
            long j = i - 1 - R(&r, (int)(i < 300 ? i : 300));
            if (!is_duplicate_draw(g, j)) {
                src = j;
                break;
            }
        }
    }
    claim *c = calloc(1, sizeof *c);
    if (!c) return tg_error(TG_ERR_OOM, "claims_generate: out of memory");
    build_fields(g, c, src);
    write_note(g, c);
    bool fraud = false;
    unsigned why = adjudicate(g, c, &fraud);
    if (seen_insert(g, signature(c))) {
        why |= 1u << CLAIMS_DENY_DUPLICATE;
        fraud = true;
    }
    tg_status s = TG_OK;
    json_t *j = c->note.oom ? NULL : claim_json(g, c, i, why, fraud);
    char *line = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(j);
    if (!line) s = tg_error(TG_ERR_OOM, "claims_generate: out of memory writing claim %ld", i);
    size_t len = line ? strlen(line) : 0;
    if (s == TG_OK && out && (fwrite(line, 1, len, out) != len || fputc('\n', out) == EOF))
        s = tg_error(TG_ERR_IO, "claims_generate: write failed at claim %ld", i);
    if (s == TG_OK) {
        st->n++;
        st->denied += why != 0;
        st->fraud += fraud;
        st->long_notes += c->long_note;
        for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++) st->by_reason[r] += (why >> r) & 1;
        if (fn) {
            claims_gen_truth t = {.reasons = why, .fraud = fraud, .long_note = c->long_note, .n_planted = c->n_planted};
            for (int k = 0; k < c->n_planted; k++) t.planted[k] = c->planted_buf[k];
            s = fn(user, i, line, len, &t);
        }
    }
    free(line);
    claims_sb_free(&c->note);
    free(c);
    return s;
}

static void gen_free(gen *g)
{
    for (int k = 0; k < CLAIMS_MAX_GROUPS; k++) {
        free(g->dx[k].c);
        free(g->px[k].c);
        free(g->by_group[k]);
    }
    free(g->all_dx.c);
    free(g->all_px.c);
    free(g->members);
    free(g->providers);
    free(g->seen);
}

tg_status claims_generate(const claims_codes *codes, const claims_gen_opts *opts, FILE *out, claims_gen_fn fn,
                          void *user, claims_gen_stats *stats)
{
    if (opts->n < 0 || !(opts->long_frac >= 0 && opts->long_frac <= 1))
        return tg_error(TG_ERR_INVALID, "claims_generate: n=%ld must be >= 0 and long_frac=%g in [0, 1]", opts->n,
                        opts->long_frac);
    gen g = {.t = codes, .o = *opts};
    claims_gen_stats st = {0};
    tg_status s = index_codes(&g);
    if (s == TG_OK) s = make_population(&g);
    for (g.seen_cap = 64; s == TG_OK && g.seen_cap < 2 * (size_t)opts->n + 16;) g.seen_cap *= 2;
    if (s == TG_OK && !(g.seen = calloc(g.seen_cap, sizeof *g.seen)))
        s = tg_error(TG_ERR_OOM, "claims_generate: out of memory");
    for (long i = 0; s == TG_OK && i < opts->n; i++) s = emit_claim(&g, i, out, fn, user, &st);
    gen_free(&g);
    if (stats) *stats = st;
    return s;
}
