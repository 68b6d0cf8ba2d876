/*
 * tests/unit/test-http-sigv4.c: the http sink's SigV4 signer against the
 * AWS Signature Version 4 test suite (credentials AKIDEXAMPLE /
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service",
 * 20150830T123600Z). For each vector the canonical request, the string to
 * sign and the Authorization header must be exactly the published ones.
 * (post-x-www-form-urlencoded: the suite's .creq lists content-length but
 * its .authz and signature sign content-type;host;x-amz-date; the
 * signature is what a server checks, so that is the form reproduced.)
 */
#include <string.h>
#include "../../core/http/http-private.h"
#include "../tap.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HOST {"Host", "example.amazonaws.com"}
#define DATE {"X-Amz-Date", "20150830T123600Z"}

typedef struct vector {
    const char *name, *method, *path, *query;
    spw__http_sig_hdr headers[8];
    const char *body;
    const char *creq;      /* NULL: not published in a form checked here */
    const char *sts_hash;  /* last line of the string to sign */
    const char *signed_headers, *signature;
} vector;

static const vector vectors[] = {
    {"get-vanilla", "GET", "/", NULL, {HOST, DATE}, "",
     "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"post-vanilla", "POST", "/", NULL, {HOST, DATE}, "",
     "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA,
     "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-x-www-form-urlencoded", "POST", "/", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded"}, HOST, DATE}, "Param1=value1",
     "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
     "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
     "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-vanilla-query", "POST", "/", "Param1=value1", {HOST, DATE}, "",
     "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
     "host;x-amz-date\n" EMPTY_SHA,
     "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd", "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"get-vanilla-query-order-key", "GET", "/", "Param1=value2&Param1=Value1", {HOST, DATE}, "",
     "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
     "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA,
     "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89", "host;x-amz-date",
     "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
    {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", {HOST, DATE},
     "", NULL, "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
     "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-unreserved", "GET", "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {HOST, DATE}, "", NULL, "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
     "host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     NULL, {HOST, DATE}, "", NULL,
     "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9", "host;x-amz-date",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-header-key-duplicate", "GET", "/", NULL,
     {HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}, DATE},
     "",
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA,
     "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-trim", "GET", "/", NULL,
     {HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}, DATE}, "",
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" EMPTY_SHA,
     "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-header-value-case", "POST", "/", NULL, {HOST, {"My-Header1", "VALUE1"}, DATE}, "", NULL,
     "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
     "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"normalize-path/get-relative-relative", "GET", "/example1/example2/../..", NULL, {HOST, DATE},
     "", NULL, "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"normalize-path/get-slash-dot-slash", "GET", "/./", NULL, {HOST, DATE}, "", NULL,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"normalize-path/get-slash-pointless-dot", "GET", "/./example", NULL, {HOST, DATE}, "",
     "GET\n/example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
     "host;x-amz-date\n" EMPTY_SHA,
     "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702", "host;x-amz-date",
     "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
    {"normalize-path/get-slashes", "GET", "//example//", NULL, {HOST, DATE}, "",
     "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
     "host;x-amz-date\n" EMPTY_SHA,
     "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015", "host;x-amz-date",
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
    {"normalize-path/get-space", "GET", "/example space/", NULL, {HOST, DATE}, "",
     "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
     "host;x-amz-date\n" EMPTY_SHA,
     "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86", "host;x-amz-date",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"post-sts-token/post-sts-header-before", "POST", "/", NULL,
     {HOST, DATE,
      {"X-Amz-Security-Token",
       "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="}},
     "", NULL, "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
     "host;x-amz-date;x-amz-security-token",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
};

int main(void) {
    char date[17];
    spw__http_amz_date(1440938160, date);
    is_str(date, "20150830T123600Z", "spw__http_amz_date formats Unix seconds as the suite's time");

    spw__http_sigv4 sg;
    memset(&sg, 0, sizeof sg);
    strcpy(sg.region, "us-east-1");
    strcpy(sg.service, "service");
    sg.secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const vector *v = &vectors[i];
        size_t nh = 0;
        while (nh < 8 && v->headers[nh].name)
            nh++;
        spw__http_sigv4_req req = {
            .method = v->method, .path = v->path, .path_len = strlen(v->path), .query = v->query,
            .query_len = v->query ? strlen(v->query) : 0, .headers = v->headers, .n_headers = nh,
            .body = (const uint8_t *)v->body, .body_len = strlen(v->body),
            .amz_date = "20150830T123600Z",
        };
        spw_buf auth = SPW_BUF_INIT;
        spw_result rc = spw__http_sigv4_sign(&sg, "AKIDEXAMPLE", &req, &auth);
        is_int(rc, SPW_OK, "%s: signs", v->name);
        if (rc != SPW_OK)
            continue;
        spw_buf_append(&sg.creq, "", 1);
        spw_buf_append(&sg.sts, "", 1);
        spw_buf_append(&auth, "", 1);
        if (v->creq)
            is_str((const char *)sg.creq.data, v->creq, "%s: canonical request", v->name);
        char sts[256];
        snprintf(sts, sizeof sts,
                 "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n%s",
                 v->sts_hash);
        is_str((const char *)sg.sts.data, sts, "%s: string to sign", v->name);
        char want[512];
        snprintf(want, sizeof want,
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 v->signed_headers, v->signature);
        is_str((const char *)auth.data, want, "%s: Authorization", v->name);
        spw_buf_free(&auth);
    }

    /* The signing key is cached per date: a second signature on another day must change. */
    spw__http_sig_hdr h[2] = {HOST, {"X-Amz-Date", "20150831T000000Z"}};
    spw__http_sigv4_req req = {.method = "GET", .path = "/", .path_len = 1, .headers = h, .n_headers = 2,
                        .body = (const uint8_t *)"", .amz_date = "20150831T000000Z"};
    spw_buf auth = SPW_BUF_INIT;
    spw__http_sigv4_sign(&sg, "AKIDEXAMPLE", &req, &auth);
    spw_buf_append(&auth, "", 1);
    has_str((const char *)auth.data, "Credential=AKIDEXAMPLE/20150831/", "the scope follows the date");
    ok(strstr((const char *)auth.data, "5fa00fa31553b73ebf19") == NULL,
       "a new date derives a new signing key");
    spw_buf_free(&auth);
    spw__http_sigv4_req bad = req;
    bad.amz_date = "2015";
    is_int(spw__http_sigv4_sign(&sg, "AKIDEXAMPLE", &bad, &auth), SPW_ERR_INVAL, "a malformed date is refused");
    spw_buf_free(&auth);
    spw__http_sigv4_free(&sg);
    return tap_done();
}
