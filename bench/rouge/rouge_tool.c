/* rouge_tool: the C side of the ROUGE-L benchmark and of the rouge-score parity test.
 *
 *   rouge_tool gen N SEED OUT.txt          synthetic Japanese instructions, one per line
 *   rouge_tool score KIND IN.jsonl OUT     {"a":..,"b":..} lines -> tokens, LCS and F per pair
 *   rouge_tool bench CORPUS.txt TOKS.txt   prints JSON: pairs/s, greedy dedup, naive check,
 *                                          memory; writes the token sequences for Python
 *
 * The corpus comes from templates and a vocabulary carried here: realistic lengths of 20 to 120
 * characters, and about 5% planted near-duplicates (small edits of an earlier line). */
#include "isynth/rouge.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t rng_state = 1;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}
#define PICK(a) ((a)[rnd(sizeof(a) / sizeof *(a))])

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what, const isynth_error *e)
{
    fprintf(stderr, "rouge_tool: %s: %s\n", what, e ? e->msg : "failed");
    exit(1);
}

/* ---- the synthetic corpus ------------------------------------------------------------------ */

static const char *const topics[] = {
    "地球温暖化",
    "人工知能",
    "日本の歴史",
    "江戸時代の文化",
    "量子コンピュータ",
    "睡眠の質",
    "リモートワーク",
    "少子高齢化",
    "再生可能エネルギー",
    "俳句",
    "和食の特徴",
    "富士山",
    "電気自動車",
    "プログラミング教育",
    "読書の習慣",
    "時間管理",
    "ストレス解消法",
    "マラソン",
    "宇宙開発",
    "火山の仕組み",
    "台風",
    "光合成",
    "ブロックチェーン",
    "SNSの使い方",
    "Pythonの基礎",
    "機械学習",
    "データベース設計",
    "茶道",
    "歌舞伎",
    "城の建築",
    "地方創生",
    "観光業",
    "食品ロス",
    "海洋プラスチック",
    "防災の準備",
    "健康的な食事",
    "筋力トレーニング",
    "子育て",
    "外国語学習",
    "就職活動",
    "面接対策",
    "敬語の使い方",
    "手紙の書き方",
    "会議の進め方",
    "プレゼンテーション",
    "予算管理",
    "家計簿",
    "投資信託",
    "株式市場",
    "インフレーション",
    "円安の影響",
    "農業の未来",
    "スマート農業",
    "漁業",
    "森林保護",
    "生物多様性",
    "絶滅危惧種",
    "猫の飼い方",
    "犬のしつけ",
    "園芸",
    "桜の開花",
    "紅葉狩り",
    "温泉文化",
    "鉄道の歴史",
    "新幹線",
    "自転車通勤",
    "交通渋滞",
    "都市計画",
    "建築デザイン",
    "伝統工芸",
    "着物",
    "和菓子",
    "日本酒",
    "発酵食品",
    "味噌汁",
    "寿司の歴史",
    "ラーメン",
    "コーヒーの淹れ方",
    "紅茶",
    "音読の効果",
    "暗記のコツ",
    "数学の勉強法",
    "確率",
    "統計の基本",
    "微分と積分",
    "相対性理論",
    "遺伝子",
    "ワクチン",
    "免疫",
    "腸内環境",
    "瞑想",
    "マインドフルネス",
    "哲学",
    "倫理",
    "民主主義",
    "選挙制度",
    "憲法",
    "裁判員制度",
    "著作権",
    "個人情報保護",
    "サイバーセキュリティ",
    "パスワード管理",
    "クラウドサービス",
    "オープンソース",
    "Linux",
    "Webデザイン",
    "アクセシビリティ",
    "UX",
};

static const char *const audiences[] = {
    "小学生",       "中学生", "高校生", "大学生", "新入社員",   "高齢者", "初心者",     "専門家",
    "外国人観光客", "子ども", "保護者", "経営者", "エンジニア", "留学生", "一般の読者",
};

static const char *const styles[] = {
    "丁寧な口調で", "親しみやすい口調で", "簡潔に",           "具体例を挙げて", "箇条書きで",
    "比喩を使って", "ユーモアを交えて",   "専門用語を避けて", "論理的に",       "物語風に",
};

static const char *const counts[] = {"3", "三", "5", "五", "2", "二", "10", "4", "四"};

static const char *const objects[] = {
    "メール", "スピーチ",     "キャッチコピー", "短い詩",   "作文",   "報告書", "企画書", "日記",
    "感想文", "ニュース記事", "商品説明",       "自己紹介", "謝罪文", "招待状", "レシピ",
};

static const char *const prefixes[] = {
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "次の条件に従って、",
    "初めての人にも伝わるように、",
    "ビジネスの場面を想定して、",
    "できるだけ短く、",
    "友人に話すつもりで、",
    "授業で使う資料として、",
};

static const char *const suffixes[] = {
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "200字以内でまとめてください。",
    "最後に一言でまとめてください。",
    "理由も添えてください。",
    "注意点も挙げてください。",
    "見出しを付けてください。",
    "メリットとデメリットに分けてください。",
};

static const char *const aspects[] = {
    "経済への影響",
    "歴史的な背景",
    "身近な具体例",
    "よくある失敗",
    "最新の動向",
    "安全面の注意点",
    "環境への負荷",
    "初心者がつまずく点",
    "将来性",
    "費用の目安",
    "必要な道具",
    "地域ごとの違い",
    "海外との比較",
    "法律上の論点",
    "健康への効果",
    "子どもへの伝え方",
    "家族で楽しむ工夫",
    "長続きさせる秘訣",
    "データの読み方",
    "専門家の意見",
    "メリットとリスク",
    "始める前の準備",
    "成功事例",
    "失敗から学べる教訓",
    "社会的な意義",
    "季節ごとの楽しみ方",
    "時間の使い方",
    "仕組みの要点",
    "誤解されやすい点",
    "今後十年の見通し",
    "倫理的な問題",
    "技術的な課題",
    "日常生活との関わり",
    "学校での教え方",
    "職場での活かし方",
    "地域社会への貢献",
    "世代による受け止め方の差",
    "よく使われる用語",
    "基本的な考え方",
    "意外な豆知識",
};

static const char *const regions[] = {
    "北海道", "沖縄", "京都",       "大阪",       "東北地方", "九州", "海外",   "都市部",
    "地方",   "離島", "ヨーロッパ", "アジア各国", "アメリカ", "日本", "山間部", "沿岸部",
};

/* core templates: %T topic, %P aspect, %A audience, %S style, %N count, %O object */
static const char *const cores[] = {
    "%Tの%Pについて%Aにも分かるように説明してください。",
    "%Tの%Pを%N点挙げてください。",
    "%Tの%Pに触れながら%Oを%S書いてください。",
    "%Pを中心に、%Tをテーマにした%Oを作成してください。",
    "%Aに向けて%Tの%Pを%S紹介して。",
    "%Tの%Pについてよくある誤解を%N個挙げ、正しく説明してください。",
    "%Tの%Pを%S要約してください。",
    "%Tと%Tの%Pを比較してください。",
    "%Pを意識して、%Tを学ぶ計画を%N週間分立ててください。",
    "%Tの%Pについて%Aが抱きそうな質問を%N個考えて。",
    "%Tの%Pに関するクイズを%N問作ってください。",
    "%Tにおける%Pの重要性を%S述べよ。",
    "%Tの%Pをめぐる議論で使える反論を%N つ挙げてください。",
    "%Tの%Pを一言で表すキャッチコピーを%N案出して。",
    "%Tの%Pについて、あなたの意見を述べてください。",
    "%Aが%Tを始めるとき、%Pについてのアドバイスを%S書いてください。",
    "%Pに注目して%Tについての%Oを%Aに向けて書いてください。",
    "%Tの%Pに関して、次の文章の誤りを指摘してください。",
    "%Tの%Pについて、賛成と反対の立場から意見を書いて。",
    "%Tの%Pを説明するたとえ話を%N つ作ってください。",
    "%Tの%Pに関する基本用語を%N個選び、%S解説してください。",
    "%Tの%Pが登場する短い物語を書いてください。",
    "%Tの%Pを伝えるニュースの見出しを%N本考えてください。",
    "%Tの%Pを%Aに教える授業の流れを考えてください。",
    "%Tの観点から%Tの%Pを分析してください。",
    "もし%Tがなかったら%Pはどう変わるか、%S考察してください。",
    "%Tの%Pを表にまとめるとしたら、どんな項目が必要ですか。",
    "%Tの%Pについて%Aと話すための会話例を作ってください。",
    "%Tの%Pを調べるのに役立つ情報源の選び方を教えて。",
    "%Tの%Pについて、%N分で話せる原稿を用意してください。",
};

static const char *const swaps[][2] = {
    {"ください", "下さい"},
    {"ください。", "くださいね。"},
    {"説明して", "解説して"},
    {"書いて", "作成して"},
    {"挙げて", "あげて"},
    {"考えて", "提案して"},
    {"、", ""},
    {"。", ""},
    {"について", "に関して"},
    {"3", "三"},
    {"5", "五"},
    {"分かる", "わかる"},
};

static void append(char *out, size_t cap, const char *s)
{
    size_t o = strlen(out), n = strlen(s);
    if (o + n < cap) {
        memcpy(out + o, s, n);
        out[o + n] = '\0';
    }
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void make_instruction(char *out, size_t cap)
{
    out[0] = '\0';
    append(out, cap, PICK(prefixes));
    for (const char *p = PICK(cores); *p; p++) {
        if (*p == '%' && p[1]) {
            p++;
            if (*p == 'T' && rnd(100) < 35) {
                append(out, cap, PICK(regions));
                append(out, cap, "の");
            }
            append(out, cap,
                   *p == 'T'   ? PICK(topics)
                   : *p == 'P' ? PICK(aspects)
                   : *p == 'A' ? PICK(audiences)
                   : *p == 'S' ? PICK(styles)
                   : *p == 'N' ? PICK(counts)
                               : PICK(objects));
        } else {
            char c[2] = {*p, 0};
            append(out, cap, c);
        }
    }
    append(out, cap, PICK(suffixes));
}

/* A small edit of src: one or two phrase swaps, or a dropped or doubled character. */
static void make_near_copy(const char *src, char *out, size_t cap)
{
    snprintf(out, cap, "%s", src);
    int edits = 1 + (int)rnd(2);
    for (int e = 0; e < edits; e++) {
        const char *const *sw = swaps[rnd(sizeof swaps / sizeof *swaps)];
        int dir = (int)rnd(2);
        char *at = strstr(out, sw[dir]);
        if (!at) continue;
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(at - out), out, sw[!dir], at + strlen(sw[dir]));
        snprintf(out, cap, "%s", tmp);
    }
}

static int cmd_gen(int argc, char **argv)
{
    if (argc != 5) return fprintf(stderr, "usage: rouge_tool gen N SEED OUT.txt\n"), 2;
    size_t n = strtoul(argv[2], NULL, 10);
    rng_state = strtoull(argv[3], NULL, 10) * 2654435761u + 1;
    FILE *f = fopen(argv[4], "wb");
    if (!f) return perror(argv[4]), 1;
    char **lines = calloc(n, sizeof *lines);
    char s[1024];
    for (size_t i = 0; i < n; i++) {
        do {
            if (i > 20 && rnd(100) < 5)
                make_near_copy(lines[rnd((uint32_t)i)], s, sizeof s);
            else
                make_instruction(s, sizeof s);
        } while (utf8_chars(s) < 20 || utf8_chars(s) > 120);
        lines[i] = strdup(s);
        fprintf(f, "%s\n", s);
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return fclose(f) ? 1 : 0;
}

/* ---- parity helper ------------------------------------------------------------------------- */

static json_t *token_array(isynth_tokenizer *tok, const uint32_t *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = isynth_tokenizer_token(tok, ids[i], &len);
        json_array_append_new(a, json_stringn(s, len));
    }
    return a;
}

static int cmd_score(int argc, char **argv)
{
    if (argc != 5)
        return fprintf(stderr, "usage: rouge_tool score chars|words|mecab IN.jsonl OUT\n"), 2;
    isynth_tokenizer_kind kind;
    if (isynth_tokenizer_kind_from_name(argv[2], &kind))
        return fprintf(stderr, "rouge_tool: unknown tokenizer %s\n", argv[2]), 2;
    isynth_error err;
    isynth_tokenizer *tok;
    if (isynth_tokenizer_new(kind, &tok, &err)) die("tokenizer", &err);
    FILE *in = fopen(argv[3], "rb"), *out = fopen(argv[4], "wb");
    if (!in || !out) return perror("rouge_tool score"), 1;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, in) != -1) {
        lineno++;
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        json_t *ja = json_object_get(o, "a"), *jb = json_object_get(o, "b");
        if (!json_is_string(ja) || !json_is_string(jb)) {
            fprintf(stderr, "rouge_tool: %s:%ld: want {\"a\": str, \"b\": str}\n", argv[3], lineno);
            return 1;
        }
        uint32_t *a, *b;
        size_t m, n, lcs;
        if (isynth_tokenize(tok, json_string_value(ja), json_string_length(ja), &a, &m, &err) ||
            isynth_tokenize(tok, json_string_value(jb), json_string_length(jb), &b, &n, &err))
            die("tokenize", &err);
        if (isynth_lcs_length(a, m, b, n, &lcs)) die("lcs", NULL);
        double f = isynth_rouge_l_f(a, m, b, n);
        json_t *r = json_object();
        json_object_set_new(r, "a", token_array(tok, a, m));
        json_object_set_new(r, "b", token_array(tok, b, n));
        json_object_set_new(r, "lcs", json_integer((json_int_t)lcs));
        char *ta = json_dumps(r, JSON_COMPACT | JSON_ENSURE_ASCII);
        /* the score as a repr that round-trips exactly */
        fprintf(out, "%.*s,\"f\":%.17g}\n", (int)strlen(ta) - 1, ta, f);
        free(ta);
        json_decref(r);
        json_decref(o);
        isynth_free(a);
        isynth_free(b);
    }
    free(line);
    fclose(in);
    isynth_tokenizer_free(tok);
    return fclose(out) ? 1 : 0;
}

/* ---- the benchmark ------------------------------------------------------------------------- */

typedef struct seqs {
    uint32_t **t;
    size_t *n;
    size_t count;
} seqs;

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Greedy dedup of the first `count` items: each against all kept before it. */
static size_t greedy_index(isynth_tokenizer *tok, const seqs *s, size_t count, double t,
                           bool nearest, unsigned char *keep, double *secs, isynth_sim_stats *st,
                           size_t *mem)
{
    isynth_error err;
    isynth_sim_index *idx;
    if (isynth_sim_index_new(tok, &idx, &err)) die("index", &err);
    size_t kept = 0;
    double t0 = now_s();
    for (size_t i = 0; i < count; i++) {
        int64_t hit;
        double sc;
        isynth_err rc =
            nearest
                ? isynth_sim_index_nearest_tokens(idx, s->t[i], s->n[i], t, &hit, &sc, &err)
                : isynth_sim_index_any_at_least_tokens(idx, s->t[i], s->n[i], t, &hit, &sc, &err);
        if (rc) die("query", &err);
        keep[i] = hit < 0;
        if (keep[i]) {
            if (isynth_sim_index_add_tokens(idx, (int64_t)i, s->t[i], s->n[i], &err))
                die("add", &err);
            kept++;
        }
    }
    *secs = now_s() - t0;
    isynth_sim_index_stats(idx, st);
    *mem = isynth_sim_index_memory(idx);
    isynth_sim_index_free(idx);
    return kept;
}

static int cmd_bench(int argc, char **argv)
{
    if (argc < 4)
        return fprintf(stderr, "usage: rouge_tool bench CORPUS.txt TOKS.txt [Q C SUBSET]\n"), 2;
    size_t Q = argc > 4 ? strtoul(argv[4], NULL, 10) : 1000;
    size_t C = argc > 5 ? strtoul(argv[5], NULL, 10) : 1000;
    size_t subset = argc > 6 ? strtoul(argv[6], NULL, 10) : 5000;
    double threshold = 0.7;
    isynth_error err;
    isynth_tokenizer *tok;
    if (isynth_tokenizer_new(ISYNTH_TOKENIZER_CHARS, &tok, &err)) die("tokenizer", &err);
    FILE *in = fopen(argv[2], "rb");
    if (!in) return perror(argv[2]), 1;
    seqs s = {0};
    size_t cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    double t0 = now_s();
    size_t chars = 0;
    while ((got = getline(&line, &lcap, in)) != -1) {
        size_t len = (size_t)got;
        while (len && line[len - 1] == '\n')
            len--;
        if (s.count == cap) {
            cap = cap ? cap * 2 : 1024;
            s.t = realloc(s.t, cap * sizeof *s.t);
            s.n = realloc(s.n, cap * sizeof *s.n);
        }
        if (isynth_tokenize(tok, line, len, &s.t[s.count], &s.n[s.count], &err))
            die("tokenize", &err);
        chars += s.n[s.count];
        s.count++;
    }
    double tok_secs = now_s() - t0;
    fclose(in);
    free(line);

    /* the token sequences for the Python side: one character per token */
    FILE *tf = fopen(argv[3], "wb");
    if (!tf) return perror(argv[3]), 1;
    for (size_t i = 0; i < s.count; i++) {
        for (size_t j = 0; j < s.n[i]; j++) {
            size_t len;
            const char *p = isynth_tokenizer_token(tok, s.t[i][j], &len);
            if ((len <= 4 && ((unsigned char)p[0] < 0x80      ? len == 1
                              : ((unsigned char)p[0] >= 0xF0) ? len == 4
                              : ((unsigned char)p[0] >= 0xE0) ? len == 3
                                                              : len == 2))) {
                fwrite(p, 1, len, tf);
            } else { /* a multi-character token becomes one private-use character */
                uint32_t cp = 0xF0000 + s.t[i][j];
                char u[4] = {(char)(0xF0 | cp >> 18), (char)(0x80 | ((cp >> 12) & 63)),
                             (char)(0x80 | ((cp >> 6) & 63)), (char)(0x80 | (cp & 63))};
                fwrite(u, 1, 4, tf);
            }
        }
        fputc('\n', tf);
    }
    fclose(tf);

    /* (a) pairs per second: Q queries against C choices, one prepared pattern per query */
    isynth_rouge_pattern *pat;
    if (isynth_rouge_pattern_new(&pat, &err)) die("pattern", &err);
    size_t choice0 = Q < s.count / 2 ? s.count / 2 : 0;
    double checksum = 0, pairs = 0;
    t0 = now_s();
    double el;
    do {
        for (size_t q = 0; q < Q && q < s.count; q++) {
            if (isynth_rouge_pattern_set(pat, s.t[q], s.n[q], &err)) die("pattern", &err);
            for (size_t c = 0; c < C && choice0 + c < s.count; c++)
                checksum += isynth_rouge_pattern_f(pat, s.t[choice0 + c], s.n[choice0 + c]);
            pairs += (double)(C < s.count - choice0 ? C : s.count - choice0);
        }
        el = now_s() - t0;
    } while (el < 1.0);
    double pair_rate = pairs / el;
    double checksum_pairs = 0;
    for (size_t q = 0; q < Q && q < s.count; q++) {
        if (isynth_rouge_pattern_set(pat, s.t[q], s.n[q], &err)) die("pattern", &err);
        for (size_t c = 0; c < C && choice0 + c < s.count; c++)
            checksum_pairs += isynth_rouge_pattern_f(pat, s.t[choice0 + c], s.n[choice0 + c]);
    }
    /* one-shot isynth_rouge_l_f (no pattern reuse), for reference */
    double pairs1 = 0;
    t0 = now_s();
    do {
        for (size_t q = 0; q < Q && q < s.count; q++)
            for (size_t c = 0; c < 100 && choice0 + c < s.count; c++) {
                checksum += isynth_rouge_l_f(s.t[q], s.n[q], s.t[choice0 + c], s.n[choice0 + c]);
                pairs1 += 1;
            }
        el = now_s() - t0;
    } while (el < 1.0);
    double oneshot_rate = pairs1 / el;
    isynth_rouge_pattern_free(pat);

    /* (b) greedy dedup of the whole corpus */
    unsigned char *keep = malloc(s.count), *keep_nn = malloc(s.count), *keep_naive = malloc(subset);
    double secs_any, secs_nn;
    isynth_sim_stats st_any, st_nn;
    size_t mem_any, mem_nn;
    size_t kept_any =
        greedy_index(tok, &s, s.count, threshold, false, keep, &secs_any, &st_any, &mem_any);
    size_t kept_nn =
        greedy_index(tok, &s, s.count, threshold, true, keep_nn, &secs_nn, &st_nn, &mem_nn);
    bool same_any_nn = memcmp(keep, keep_nn, s.count) == 0;

    /* naive reference on the subset: every item against every kept item, no index, no bound */
    if (subset > s.count) subset = s.count;
    size_t *kept_list = malloc(subset * sizeof *kept_list), nk = 0;
    t0 = now_s();
    for (size_t i = 0; i < subset; i++) {
        bool dup = false;
        for (size_t k = 0; k < nk && !dup; k++)
            dup =
                isynth_rouge_l_f(s.t[i], s.n[i], s.t[kept_list[k]], s.n[kept_list[k]]) >= threshold;
        keep_naive[i] = !dup;
        if (!dup) kept_list[nk++] = i;
    }
    double naive_secs = now_s() - t0;
    bool subset_equal = memcmp(keep, keep_naive, subset) == 0;

    printf("{\"items\":%zu,\"tokens\":%zu,\"vocab\":%zu,\"tokenize_s\":%.4f,\n", s.count, chars,
           isynth_tokenizer_vocab_size(tok), tok_secs);
    printf(" \"pairs\":%.0f,\"pairs_per_s\":%.1f,\"oneshot_pairs_per_s\":%.1f,\"checksum\":%.6f,"
           "\"checksum_pairs\":%.6f,\n",
           pairs, pair_rate, oneshot_rate, checksum, checksum_pairs);
    printf(" \"greedy_s\":%.4f,\"greedy_kept\":%zu,\"greedy_nn_s\":%.4f,\"greedy_nn_kept\":%zu,"
           "\"any_equals_nearest\":%s,\n",
           secs_any, kept_any, secs_nn, kept_nn, same_any_nn ? "true" : "false");
    printf(" \"stats\":{\"queries\":%llu,\"postings\":%llu,\"candidates\":%llu,"
           "\"pruned_count\":%llu,\"pruned_multiset\":%llu,\"pruned_best\":%llu,\"lcs\":%llu},\n",
           (unsigned long long)st_any.queries, (unsigned long long)st_any.postings_visited,
           (unsigned long long)st_any.candidates, (unsigned long long)st_any.pruned_count,
           (unsigned long long)st_any.pruned_multiset, (unsigned long long)st_any.pruned_best,
           (unsigned long long)st_any.lcs_computed);
    printf(" \"subset\":%zu,\"subset_kept\":%zu,\"naive_s\":%.3f,\"subset_equal\":%s,\n", subset,
           nk, naive_secs, subset_equal ? "true" : "false");
    printf(" \"index_bytes\":%zu,\"peak_rss_kb\":%ld,\n \"keep\":\"", mem_any, peak_rss_kb());
    for (size_t i = 0; i < s.count; i++)
        putchar(keep[i] ? '1' : '0');
    printf("\"}\n");

    for (size_t i = 0; i < s.count; i++)
        isynth_free(s.t[i]);
    free(s.t);
    free(s.n);
    free(keep);
    free(keep_nn);
    free(keep_naive);
    free(kept_list);
    isynth_tokenizer_free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "gen")) return cmd_gen(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "score")) return cmd_score(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "bench")) return cmd_bench(argc, argv);
    fprintf(stderr, "usage: rouge_tool gen|score|bench ...\n");
    return 2;
}
