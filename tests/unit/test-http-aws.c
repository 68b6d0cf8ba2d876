/*
 * tests/unit/test-http-aws.c: the pure parts of the AWS credential chain
 * (core/http/aws-parse.c and the chain's resolution in core/http/auth.c,
 * compiled in on their own): shared config and credentials files and
 * their profiles, the STS XML answer and error, the container/IMDS JSON
 * answer, ISO 8601 times, the refresh schedule and retry delays, the
 * endpoint rules, and which source the chain picks for a given
 * environment and files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../../core/http/http-private.h"
#include "../../core/http/aws-private.h"
#include "../tap.h"

/* ---- INI ------------------------------------------------------------------ */

static int prof(const char *text, bool config, const char *name, spw__aws_profile *p, char *why) {
    memset(p, 0, sizeof *p);
    why[0] = '\0';
    return spw__aws_ini_profile(text, strlen(text), config, name, p, why, 200);
}

static void test_ini(void) {
    spw__aws_profile p;
    char why[200];
    const char *creds = "# comment\n"
                        "[default]\n"
                        "aws_access_key_id = AKIDDEFAULT\n"
                        "aws_secret_access_key=secretdefault\n"
                        "\n"
                        "; another comment\n"
                        "[ci]   ; trailing comment\n"
                        "  AWS_Access_Key_Id   =   AKIDCI  \r\n"
                        "aws_secret_access_key = se#cret/with+chars==\r\n"
                        "aws_session_token = tok\n"
                        "[profile ci]\n"
                        "aws_access_key_id = NOTCI\n";
    is_int(prof(creds, false, "ci", &p, why), 0, "credentials file parses");
    ok(p.found, "profile ci found");
    is_str(p.aws_access_key_id, "AKIDCI", "key names are matched without case, values trimmed");
    is_str(p.aws_secret_access_key, "se#cret/with+chars==", "a value is taken whole ('#' kept)");
    is_str(p.aws_session_token, "tok", "session token");
    spw__aws_profile_free(&p);
    is_int(prof(creds, false, "default", &p, why), 0, "default profile");
    is_str(p.aws_access_key_id, "AKIDDEFAULT", "default's key");
    is_str(p.aws_secret_access_key, "secretdefault", "no spaces around '='");
    spw__aws_profile_free(&p);
    is_int(prof(creds, false, "nope", &p, why), 0, "a missing profile is not an error");
    ok(!p.found && !p.aws_access_key_id, "a missing profile is not found");
    spw__aws_profile_free(&p);

    const char *config = "[default]\n"
                         "region = eu-west-1\n"
                         "aws_access_key_id = CFGDEFAULT\n"
                         "[profile  web ]\n"
                         "role_arn = arn:aws:iam::123456789012:role/web\n"
                         "web_identity_token_file = /var/run/token\n"
                         "s3 =\n"
                         "  max_concurrent_requests = 20\n"
                         "  aws_access_key_id = NESTED\n"
                         "role_session_name = sess\n"
                         "[web]\n"
                         "role_arn = not-a-profile\n"
                         "[sso-session my]\n"
                         "sso_start_url = https://x\n";
    is_int(prof(config, true, "web", &p, why), 0, "config file parses");
    ok(p.found, "[profile  web ] is profile web");
    is_str(p.role_arn, "arn:aws:iam::123456789012:role/web", "[web] is not a profile in the config file");
    is_str(p.web_identity_token_file, "/var/run/token", "web_identity_token_file");
    is_str(p.role_session_name, "sess", "role_session_name after sub-properties");
    ok(!p.aws_access_key_id, "an indented sub-property is not a key of the profile");
    ok(!p.sso_start_url, "other section kinds are not profiles");
    spw__aws_profile_free(&p);
    is_int(prof(config, true, "default", &p, why), 0, "config default");
    is_str(p.aws_access_key_id, "CFGDEFAULT", "[default] in the config file");
    spw__aws_profile_free(&p);
    is_int(prof("[profile default]\naws_access_key_id = PD\n", true, "default", &p, why), 0,
           "[profile default]");
    is_str(p.aws_access_key_id, "PD", "[profile default] is the default profile too");
    spw__aws_profile_free(&p);
    is_int(prof("[a]\nx = 1\n[b]\nx = 2\n[a]\naws_access_key_id = ONE\n[a]\naws_access_key_id = TWO\n",
                false, "a", &p, why),
           0, "a profile in several sections");
    is_str(p.aws_access_key_id, "TWO", "the later value wins");
    spw__aws_profile_free(&p);

    struct {
        const char *text, *want;
    } bad[] = {
        {"[ci\naws_access_key_id = x\n", "line 1: a section header without ']'"},
        {"[ci] junk\n", "line 1: text after a section header"},
        {"aws_access_key_id = x\n", "line 1: a property before any section"},
        {"[ci]\njust words\n", "line 2: expected 'key = value'"},
        {"[ci]\n = x\n", "line 2: a property without a name"},
        {"[]\n", "line 1: a section without a name"},
        {"[ci]\naws_session_token = abc\n  def\n", "line 3: aws_session_token cannot continue"},
        {"[ci]\naws_secret_access_key = a\x01b\n", "line 2: aws_secret_access_key holds a control"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = prof(bad[i].text, false, "ci", &p, why);
        ok(r == -1 && strstr(why, bad[i].want), "refused: %s (%s)", bad[i].want, why);
        spw__aws_profile_free(&p);
    }
    char nul[] = "[ci]\naws_access_key_id = a\0b\n";
    memset(&p, 0, sizeof p);
    ok(spw__aws_ini_profile(nul, sizeof nul - 1, false, "ci", &p, why, sizeof why) == -1 &&
           strstr(why, "NUL"),
       "a NUL byte is refused");
    spw__aws_profile_free(&p);
    /* A value over its bound is an error naming the key, never cut (and never quoted). */
    size_t big = SPW__AWS_TOKEN_MAX + 1;
    char *t = malloc(big + 64);
    int n = sprintf(t, "[ci]\naws_session_token = ");
    memset(t + n, 'A', big);
    strcpy(t + n + big, "\n");
    ok(prof(t, false, "ci", &p, why) == -1 && strstr(why, "aws_session_token is longer than") &&
           !strstr(why, "AAAA"),
       "an over-long session token is refused, not truncated (%s)", why);
    spw__aws_profile_free(&p);
    t[n + big - 1] = '\n';
    t[n + big] = '\0';
    ok(prof(t, false, "ci", &p, why) == 0 && p.aws_session_token &&
           strlen(p.aws_session_token) == SPW__AWS_TOKEN_MAX,
       "a session token of exactly the bound is kept whole");
    spw__aws_profile_free(&p);
    free(t);
}

/* ---- XML ------------------------------------------------------------------ */

#define STS_OK                                                                                     \
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"    \
    "  <AssumeRoleWithWebIdentityResult>\n"                                                        \
    "    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A</SubjectFromWebIdentityToken>\n" \
    "    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>\n"                \
    "    <AssumedRoleUser>\n"                                                                      \
    "      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>\n"      \
    "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>\n"                            \
    "    </AssumedRoleUser>\n"                                                                     \
    "    <Credentials>\n"                                                                          \
    "      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>\n"          \
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"         \
    "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"                                        \
    "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"                                    \
    "    </Credentials>\n"                                                                         \
    "    <SourceIdentity>SourceIdentityValue</SourceIdentity>\n"                                   \
    "    <Provider>www.amazon.com</Provider>\n"                                                    \
    "  </AssumeRoleWithWebIdentityResult>\n"                                                       \
    "  <ResponseMetadata>\n"                                                                       \
    "    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>\n"                            \
    "  </ResponseMetadata>\n"                                                                      \
    "</AssumeRoleWithWebIdentityResponse>\n"

static int sts(const char *xml, spw__aws_fetched *f, char *why) {
    memset(f, 0, sizeof *f);
    why[0] = '\0';
    return spw__aws_sts_creds(xml, strlen(xml), f, why, 300);
}

static void test_xml(void) {
    static spw__aws_fetched f;
    char why[300];
    is_int(sts(STS_OK, &f, why), 0, "the documented STS answer parses (%s)", why);
    is_str(f.access_key_id, "ASgeIAIOSFODNN7EXAMPLE", "AccessKeyId");
    is_str(f.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "SecretAccessKey");
    is_str(f.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE", "SessionToken");
    is_int(f.expires_ms, INT64_C(1414191623000), "Expiration 2014-10-24T23:00:23Z");

    const char *decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->"
                       "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                       "<Credentials><AccessKeyId>AKID</AccessKeyId>"
                       "<SecretAccessKey>a&amp;b&lt;c&#47;d&#x2B;</SecretAccessKey>"
                       "<SessionToken>T</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>"
                       "</Credentials></AssumeRoleWithWebIdentityResult>"
                       "</AssumeRoleWithWebIdentityResponse>";
    is_int(sts(decl, &f, why), 0, "a declaration and a comment before the root (%s)", why);
    is_str(f.secret_access_key, "a&b<c/d+", "entities and character references decoded");
    const char *ent = "<?xml version=\"1.0\"?><AssumeRoleWithWebIdentityResponse>"
                      "<AssumeRoleWithWebIdentityResult a='1' b=\"2\"><Credentials>"
                      "<AccessKeyId>AKID</AccessKeyId><SecretAccessKey>s&#47;e&#x2B;c&amp;</SecretAccessKey>"
                      "<SessionToken>T</SessionToken><Expiration>2030-01-01T00:00:00.123+01:00</Expiration>"
                      "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    is_int(sts(ent, &f, why), 0, "a declaration, attributes and references (%s)", why);
    is_str(f.secret_access_key, "s/e+c&", "references in a value");
    is_int(f.expires_ms, INT64_C(1893452400123), "an offset and milliseconds");

    struct {
        const char *xml, *want;
    } bad[] = {
        {"<A><B></A>", "closing tag that does not match"},
        {"<A>", "ends inside an element"},
        {"", "no root element"},
        {"<A/><B/>", "a second root element"},
        {"text<A/>", "text outside the root element"},
        {"<!DOCTYPE A [<!ENTITY x \"y\">]><A/>", "DOCTYPE"},
        {"<A><![CDATA[x]]></A>", "CDATA"},
        {"<A><?pi x?></A>", "processing instruction"},
        {"<A>&bogus;</A>", "entity"},
        {"<A>&#0;</A>", "entity"},
        {"<A>&#xD800;</A>", "entity"},
        {"<A b=c/>", "attribute"},
        {"<A>\x01</A>", "control character"},
        {"<A><!-- a -- b --></A>", "comment"},
        {"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
         "<AccessKeyId>A</AccessKeyId><AccessKeyId>B</AccessKeyId></Credentials>"
         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
         "appears twice"},
        {"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
         "<AccessKeyId><x/>A</AccessKeyId></Credentials>"
         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
         "holds elements"},
        {"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
         "<AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
         "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>"
         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
         "has no SessionToken"},
        {"<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
         "<AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey><SessionToken>T</SessionToken>"
         "<Expiration>tomorrow</Expiration></Credentials>"
         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
         "Expiration is not"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(sts(bad[i].xml, &f, why) == -1 && strstr(why, bad[i].want), "refused: %s (%s)",
           bad[i].want, why);

    /* Deep nesting is bounded. */
    char deep[40 * 7 + 1] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "<a>");
    ok(sts(deep, &f, why) == -1 && strstr(why, "deeper"), "nesting is bounded (%s)", why);
    /* A value longer than its buffer is an error, not cut. */
    size_t big = SPW__AWS_TOKEN_MAX + 1;
    char *x = malloc(big + 512);
    int n = sprintf(x, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                       "<Credentials><SessionToken>");
    memset(x + n, 'Q', big);
    strcpy(x + n + big, "</SessionToken></Credentials></AssumeRoleWithWebIdentityResult>"
                        "</AssumeRoleWithWebIdentityResponse>");
    ok(sts(x, &f, why) == -1 && strstr(why, "SessionToken is longer than") && !strstr(why, "QQQ"),
       "an over-long session token is refused, not truncated (%s)", why);
    free(x);

    char e[300];
    const char *err = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                      "  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidIdentityToken</Code>\n"
                      "    <Message>The web identity token that was passed could not be validated "
                      "by AWS.</Message>\n  </Error>\n  <RequestId>abc</RequestId>\n</ErrorResponse>\n";
    ok(spw__aws_sts_error(err, strlen(err), e, sizeof e) &&
           strcmp(e, "InvalidIdentityToken: The web identity token that was passed could not be "
                     "validated by AWS.") == 0,
       "an STS ErrorResponse gives its code and message (%s)", e);
    ok(!spw__aws_sts_error(STS_OK, strlen(STS_OK), e, sizeof e), "a success is no error");
    ok(!spw__aws_sts_error("<html>", 6, e, sizeof e), "HTML is no error document");
}

/* ---- JSON ----------------------------------------------------------------- */

static int js(const char *j, spw__aws_fetched *f, char *why) {
    memset(f, 0, sizeof *f);
    why[0] = '\0';
    return spw__aws_json_creds(j, strlen(j), f, why, 300);
}

static void test_json(void) {
    static spw__aws_fetched f;
    char why[300];
    const char *imds = "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2012-04-26T16:39:16Z\",\n"
                       "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAIOSFODNN7EXAMPLE\",\n"
                       "  \"SecretAccessKey\" : \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n"
                       "  \"Token\" : \"token\",\n  \"Expiration\" : \"2017-05-17T15:09:54Z\"\n}";
    is_int(js(imds, &f, why), 0, "the documented IMDS answer parses (%s)", why);
    is_str(f.access_key_id, "ASIAIOSFODNN7EXAMPLE", "AccessKeyId");
    is_str(f.session_token, "token", "Token");
    is_int(f.expires_ms, INT64_C(1495033794000), "Expiration");
    const char *ecs = "{\"AccessKeyId\":\"ASIA1\",\"Expiration\":\"2030-01-01T00:00:00Z\","
                      "\"RoleArn\":\"arn:aws:iam::1:role/r\",\"SecretAccessKey\":\"s\"}";
    is_int(js(ecs, &f, why), 0, "a container answer without Token (%s)", why);
    is_str(f.session_token, "", "no session token");

    struct {
        const char *j, *want;
    } bad[] = {
        {"{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
         "Code is 'Failure'"},
        {"{\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}", "no AccessKeyId"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}", "no Expiration"},
        {"{\"AccessKeyId\":1,\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
         "AccessKeyId is not a string"},
        {"{\"AccessKeyId\":\"A B\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
         "spaces or control"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\\u0000x\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
         "NUL"},
        {"{\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01T00:00:00Z\"}",
         "not JSON"},
        {"[1]", "not a JSON object"},
        {"{\"AccessKeyId\":\"A\"} x", "not JSON"},
        {"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"2030-01-01\"}",
         "Expiration is not"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(js(bad[i].j, &f, why) == -1 && strstr(why, bad[i].want), "refused: %s (%s)",
           bad[i].want, why);
    size_t big = SPW__AWS_TOKEN_MAX + 1;
    char *x = malloc(big + 200);
    int n = sprintf(x, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
                       "\"Expiration\":\"2030-01-01T00:00:00Z\",\"Token\":\"");
    memset(x + n, 'Z', big);
    strcpy(x + n + big, "\"}");
    ok(js(x, &f, why) == -1 && strstr(why, "Token is longer than") && !strstr(why, "ZZZ"),
       "an over-long token is refused, not truncated (%s)", why);
    free(x);
}

/* ---- time, schedule, delays ------------------------------------------------ */

static void test_time(void) {
    int64_t ms;
    ok(spw__aws_parse_time("1970-01-01T00:00:00Z", &ms) && ms == 0, "the epoch");
    ok(spw__aws_parse_time("2000-02-29T12:00:00Z", &ms) && ms == INT64_C(951825600000),
       "a leap day of a year divisible by 400");
    ok(!spw__aws_parse_time("1900-02-29T00:00:00Z", &ms), "no 29 February in 1900");
    ok(!spw__aws_parse_time("2023-02-29T00:00:00Z", &ms), "no 29 February in 2023");
    ok(spw__aws_parse_time("2024-02-29T23:59:59Z", &ms) && ms == INT64_C(1709251199000),
       "29 February 2024");
    ok(spw__aws_parse_time("2024-12-31T23:00:00-01:30", &ms) && ms == INT64_C(1735691400000),
       "a negative offset");
    ok(spw__aws_parse_time("2024-01-01T00:00:00.5Z", &ms) && ms == INT64_C(1704067200500),
       "one fraction digit is tenths");
    const char *bad[] = {"2024-01-01T00:00:00", "2024-13-01T00:00:00Z", "2024-01-32T00:00:00Z",
                         "2024-01-01T24:00:00Z", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.Z",
                         "2024-01-01T00:00:00Zjunk", "2024-1-01T00:00:00Z", "1969-12-31T23:59:59Z",
                         "2024-01-01T00:00:00+1:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok(!spw__aws_parse_time(bad[i], &ms), "refused: %s", bad[i]);

    int64_t now = INT64_C(1700000000000), rf, us;
    ok(spw__aws_schedule(now, 0, 7, &rf, &us) && rf == 0 && us == 0,
       "credentials without expiry are never refreshed");
    int64_t hour = now + 3600000;
    bool all = true;
    for (uint64_t d = 0; d < 200000; d += 997) {
        spw__aws_schedule(now, hour, d, &rf, &us);
        all &= rf <= hour - 300000 && rf >= hour - 360000;
    }
    ok(all, "one-hour credentials: refreshed 5 to 6 minutes before expiry");
    spw__aws_schedule(now, hour, 0, &rf, &us);
    is_int(us, hour - 60000, "one-hour credentials sign until a minute before expiry");
    int64_t eight = now + 8000;
    all = true;
    for (uint64_t d = 0; d < 5000; d += 7) {
        spw__aws_schedule(now, eight, d, &rf, &us);
        all &= rf >= now + 3200 && rf <= now + 4000 && us == eight - 800;
    }
    ok(all, "8-second credentials: refreshed half way, minus up to a fifth, used until 0.8 s before");
    ok(spw__aws_schedule(now, now + 500, 0, &rf, &us) && rf == now + 1000 && us == now + 450,
       "very short credentials: no refresh sooner than 1 s, used meanwhile");
    ok(!spw__aws_schedule(now, now, 0, &rf, &us), "credentials expiring now are refused");
    ok(!spw__aws_schedule(now, now - 1000, 0, &rf, &us), "expired credentials are refused");

    is_int(spw__aws_retry_delay(1, 0), 250, "first retry: at least 250 ms");
    is_int(spw__aws_retry_delay(1, 250), 500, "first retry: at most 500 ms");
    is_int(spw__aws_retry_delay(3, 0), 1000, "third retry: at least 1 s");
    is_int(spw__aws_retry_delay(30, 0), 5000, "the delay is capped (at least 5 s)");
    is_int(spw__aws_retry_delay(30, 5000), 10000, "the delay is capped (at most 10 s)");
}

/* ---- endpoints ---------------------------------------------------------------- */

static void test_endpoints(void) {
    char url[300], why[300];
    ok(spw__aws_container_url("/v2/credentials/x", "https://elsewhere/", url, sizeof url, why,
                              sizeof why) == 1 &&
           strcmp(url, "http://169.254.170.2/v2/credentials/x") == 0,
       "the relative URI wins, on 169.254.170.2");
    ok(spw__aws_container_url(NULL, NULL, url, sizeof url, why, sizeof why) == 0, "neither set");
    ok(spw__aws_container_url("v2", NULL, url, sizeof url, why, sizeof why) == -1,
       "a relative URI without '/' is refused");
    const char *good[] = {"http://127.0.0.1:8080/creds", "http://127.1.2.3/x", "http://localhost/x",
                          "http://[::1]:9/x", "http://169.254.170.2/x", "http://169.254.170.23/v1/credentials",
                          "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/x"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ok(spw__aws_container_url("", good[i], url, sizeof url, why, sizeof why) == 1 &&
               strcmp(url, good[i]) == 0,
           "full URI accepted: %s", good[i]);
    const char *badu[] = {"http://192.0.2.1/x", "http://169.254.169.254/x", "http://127.0.0.1.evil.com/x",
                          "http://user@127.0.0.1/x", "ftp://127.0.0.1/x", "http:///x",
                          "http://128.0.0.1/", "http://127.0.0.256/", "http://localhost.evil/"};
    for (size_t i = 0; i < sizeof badu / sizeof badu[0]; i++)
        ok(spw__aws_container_url(NULL, badu[i], url, sizeof url, why, sizeof why) == -1,
           "full URI refused: %s (%s)", badu[i], why);

    ok(spw__aws_sts_url("eu-west-1", NULL, NULL, NULL, url, sizeof url, why, sizeof why) == 0 &&
           strcmp(url, "https://sts.eu-west-1.amazonaws.com/") == 0,
       "the regional STS endpoint");
    ok(spw__aws_sts_url("cn-north-1", NULL, NULL, NULL, url, sizeof url, why, sizeof why) == 0 &&
           strcmp(url, "https://sts.cn-north-1.amazonaws.com.cn/") == 0,
       "China regions are under amazonaws.com.cn");
    ok(spw__aws_sts_url("eu-west-1", NULL, "http://127.0.0.1:9/", "http://other/", url, sizeof url,
                        why, sizeof why) == 0 &&
           strcmp(url, "http://127.0.0.1:9/") == 0,
       "AWS_ENDPOINT_URL_STS wins");
    ok(spw__aws_sts_url("eu-west-1", NULL, "", "http://other:1", url, sizeof url, why,
                        sizeof why) == 0 &&
           strcmp(url, "http://other:1") == 0,
       "then AWS_ENDPOINT_URL");
    ok(spw__aws_sts_url("eu-west-1", "TRUE", "http://127.0.0.1:9/", "http://other/", url,
                        sizeof url, why, sizeof why) == 0 &&
           strcmp(url, "https://sts.eu-west-1.amazonaws.com/") == 0,
       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores both");
    ok(spw__aws_sts_url("eu-west-1", NULL, "sts.local", NULL, url, sizeof url, why, sizeof why) == -1,
       "a bad endpoint URL is refused");
    ok(spw__aws_sts_url("EU WEST", NULL, NULL, NULL, url, sizeof url, why, sizeof why) == -1,
       "a bad region is refused");

    ok(spw__aws_imds_url(NULL, NULL, url, sizeof url, why, sizeof why) == 0 &&
           strcmp(url, "http://169.254.169.254") == 0,
       "IMDS on 169.254.169.254");
    ok(spw__aws_imds_url("", "ipv6", url, sizeof url, why, sizeof why) == 0 &&
           strcmp(url, "http://[fd00:ec2::254]") == 0,
       "IMDS over IPv6");
    ok(spw__aws_imds_url("http://127.0.0.1:1338/", NULL, url, sizeof url, why, sizeof why) == 0 &&
           strcmp(url, "http://127.0.0.1:1338") == 0,
       "AWS_EC2_METADATA_SERVICE_ENDPOINT, without its '/'");
    ok(spw__aws_imds_url("http://127.0.0.1/latest", NULL, url, sizeof url, why, sizeof why) == -1,
       "an endpoint with a path is refused");
    ok(spw__aws_imds_url(NULL, "ipv5", url, sizeof url, why, sizeof why) == -1, "a bad mode");

    spw_buf b = SPW_BUF_INIT;
    spw__aws_sts_form(&b, "arn:aws:iam::1:role/a b", "s@x", "t+/=~");
    spw_buf_append(&b, "", 1);
    is_str((const char *)b.data,
           "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b"
           "&RoleSessionName=s%40x&WebIdentityToken=t%2B%2F%3D~",
           "the STS form is percent-encoded");
    spw_buf_free(&b);
    ok(spw__aws_session_name_ok("spillway-1@x.y,z+=_") && !spw__aws_session_name_ok("a") &&
           !spw__aws_session_name_ok("has space") && !spw__aws_session_name_ok(
               "01234567890123456789012345678901234567890123456789012345678901234"),
       "role session names: 2-64 of [\\w+=,.@-]");
}

/* ---- the chain ------------------------------------------------------------------ */

typedef struct envv {
    const char *k[16], *v[16];
    size_t n;
} envv;

static const char *getenv_test(void *arg, const char *name) {
    envv *e = arg;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->k[i], name) == 0)
            return e->v[i];
    return NULL;
}

static void put(envv *e, const char *k, const char *v) {
    e->k[e->n] = k;
    e->v[e->n++] = v;
}

static char dir[64];

static const char *file(const char *name, const char *text) {
    static char p[8][128];
    static int i;
    char *path = p[i++ % 8];
    snprintf(path, 128, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int resolve(struct spw_http_conf *cf, envv *e, spw__aws_source *src, spw_err *err) {
    err->msg[0] = '\0';
    return spw__aws_resolve(cf, getenv_test, e, src, err);
}

static void test_chain(void) {
    snprintf(dir, sizeof dir, "/tmp/spw-aws-unit.XXXXXX");
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    struct spw_http_conf cf = {.aws_region = "eu-west-1", .aws_service = "execute-api"};
    spw__aws_source s;
    spw_err err;
    envv e = {0};
    put(&e, "HOME", dir); /* no ~/.aws there */
    put(&e, "AWS_EC2_METADATA_DISABLED", "true");
    ok(resolve(&cf, &e, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, "found no credentials"),
       "nothing configured and IMDS off: a configuration error");

    envv all = {0};
    put(&all, "HOME", dir);
    put(&all, "AWS_ACCESS_KEY_ID", "AKIDENV");
    put(&all, "AWS_SECRET_ACCESS_KEY", "secretenv");
    put(&all, "AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/token");
    put(&all, "AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web");
    put(&all, "AWS_CONFIG_FILE", file("config", "[default]\naws_access_key_id = AKIDCFG\n"
                                                "aws_secret_access_key = secretcfg\n"
                                                "[profile sso]\nsso_session = x\n"
                                                "[profile chain]\nrole_arn = arn:aws:iam::1:role/x\n"
                                                "source_profile = default\n"
                                                "[profile webp]\nrole_arn = arn:aws:iam::123456789012:role/p\n"
                                                "web_identity_token_file = /tmp/ptoken\n"
                                                "role_session_name = psess\n"
                                                "[profile half]\naws_access_key_id = X\n"));
    put(&all, "AWS_SHARED_CREDENTIALS_FILE", file("credentials", "[merged]\naws_secret_access_key = S2\n"));
    put(&all, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds");
    put(&all, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8");

    cf.aws_access_key_id = "AKIDOPT";
    cf.aws_secret_access_key = "secretopt";
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_STATIC &&
           strcmp(s.access_key_id, "AKIDOPT") == 0 && strstr(s.desc, "options"),
       "1. options first");
    ok(spw__aws_source_key(&s) == NULL, "static credentials are not shared");
    spw__aws_source_free(&s);
    cf.aws_access_key_id = cf.aws_secret_access_key = NULL;
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_STATIC &&
           strcmp(s.access_key_id, "AKIDENV") == 0,
       "2. then the environment's keys");
    spw__aws_source_free(&s);
    all.v[1] = ""; /* AWS_ACCESS_KEY_ID empty: unset */
    ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, "AWS_SECRET_ACCESS_KEY is set"),
       "half a key pair in the environment is an error");
    all.v[2] = "";
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_WEBID &&
           strcmp(s.token_file, "/tmp/token") == 0 && !s.session_name &&
           strcmp(s.sts_url, "https://sts.eu-west-1.amazonaws.com/") == 0,
       "3. then web identity from the environment, on the regional STS");
    char *k1 = spw__aws_source_key(&s);
    spw__aws_source_free(&s);
    ok(resolve(&cf, &all, &s, &err) == SPW_OK, "resolved again");
    char *k2 = spw__aws_source_key(&s);
    ok(k1 && k2 && strcmp(k1, k2) == 0, "the same environment gives the same sharing key");
    free(k1);
    free(k2);
    spw__aws_source_free(&s);
    all.v[4] = ""; /* AWS_ROLE_ARN */
    ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, "AWS_ROLE_ARN is not"),
       "a token file without a role is an error");
    all.v[3] = "";
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_STATIC &&
           strcmp(s.access_key_id, "AKIDCFG") == 0 && strstr(s.desc, "profile 'default'"),
       "4. then the default profile of the config file (%s)", s.desc);
    spw__aws_source_free(&s);
    cf.aws_profile = "webp";
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_WEBID &&
           strcmp(s.token_file, "/tmp/ptoken") == 0 && strcmp(s.session_name, "psess") == 0,
       "a profile with role_arn and web_identity_token_file is web identity");
    spw__aws_source_free(&s);
    cf.aws_profile = "merged";
    put(&all, "AWS_PROFILE", "ignored");
    cf.aws_config_file = strdup(file("config2", "[profile merged]\naws_access_key_id = AKIDM\n"
                                                "aws_secret_access_key = S1\n"));
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_STATIC &&
           strcmp(s.access_key_id, "AKIDM") == 0 && strcmp(s.secret_access_key, "S2") == 0,
       "aws_profile wins over AWS_PROFILE; the files merge, the credentials file's values winning");
    spw__aws_source_free(&s);
    free(cf.aws_config_file);
    cf.aws_config_file = NULL;
    all.v[9] = ""; /* AWS_PROFILE */
    char *errs[][2] = {{"sso", "AWS SSO"},
                             {"chain", "from source_profile"},
                             {"half", "needs both"},
                             {"absent", "is in neither"}};
    for (size_t i = 0; i < 4; i++) {
        cf.aws_profile = errs[i][0];
        ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, errs[i][1]),
           "profile %s: %s (%s)", errs[i][0], errs[i][1], err.msg);
    }
    cf.aws_profile = NULL;
    cf.aws_config_file = "/nonexistent/config";
    ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, "no such file"),
       "aws_config_file must exist");
    cf.aws_config_file = NULL;
    all.v[5] = "/nonexistent/config"; /* AWS_CONFIG_FILE: missing is fine */
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_CONTAINER &&
           strcmp(s.url, "http://127.0.0.1:9/creds") == 0 && !s.auth_token,
       "5. then the container endpoint");
    spw__aws_source_free(&s);
    put(&all, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "bad\ntoken");
    ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, "line break") &&
           !strstr(err.msg, "bad"),
       "a container token with a line break is refused, not quoted");
    all.v[all.n - 1] = "good";
    put(&all, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/tmp/ctoken");
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.auth_token_file && !s.auth_token,
       "the token file wins over the token");
    spw__aws_source_free(&s);
    all.v[7] = "http://192.0.2.1/creds";
    ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG && strstr(err.msg, "neither a loopback"),
       "a full URI elsewhere over http is refused");
    all.v[7] = "";
    ok(resolve(&cf, &all, &s, &err) == SPW_OK && s.kind == SPW__AWS_IMDS &&
           strcmp(s.imds_url, "http://127.0.0.1:8") == 0,
       "6. then IMDSv2");
    spw__aws_source_free(&s);
    put(&all, "AWS_EC2_METADATA_DISABLED", "TRUE");
    ok(resolve(&cf, &all, &s, &err) == SPW_ERR_CONFIG, "unless AWS_EC2_METADATA_DISABLED is true");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ok(system(cmd) == 0, "cleaned up");
}

int main(void) {
    test_ini();
    test_xml();
    test_json();
    test_time();
    test_endpoints();
    test_chain();
    return tap_done();
}
