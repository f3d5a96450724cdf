/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_events.c - engine/events.[ch]: every DESIGN.md section 3 event is
 * encoded, published through a real ring, read back and rendered as JSON, which jansson
 * (an independent parser) must accept with the same field values; string escaping and
 * invalid UTF-8; sensitive DTMF masking; size refusals; malformed payloads.
 */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>

#include "engine/events.h"
#include "ivr_test.h"

static char ring_file[256];
static struct ivr_shmring ring;
static struct ivr_shmring_reader rd;

/* Publish @ev, read it back, render and parse the JSON.  Caller json_decref()s. */
static json_t *roundtrip(const struct ivr_event *ev, uint64_t call_id)
{
	unsigned char scratch[8192], buf[8192];
	char js[32768];
	int rc = ivr_event_publish(&ring, 0, call_id, 0, 0, ev, scratch, sizeof(scratch));
	if (rc < 1) {
		fprintf(stderr, "  publish: %d\n", rc);
		return NULL;
	}
	struct ivr_shmring_rec rec;
	if (ivr_shmring_read(&rd, &rec, buf, sizeof(buf)) != 1)
		return NULL;
	int n = ivr_event_to_json(&rec, buf, js, sizeof(js));
	if (n < 0)
		return NULL;
	ivr_check_int_eq((size_t)n, strlen(js));
	json_error_t err;
	json_t *j = json_loads(js, 0, &err);
	if (!j)
		fprintf(stderr, "  bad JSON (%s): %s\n", err.text, js);
	return j;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "(missing)";
}

static long long jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

IVR_TEST(all_types_roundtrip)
{
	uint64_t t0 = ivr_shmring_now_ns();
	struct ivr_event_kv vars[] = { { "tier", "gold" }, { "lang", "en" } };
	struct ivr_event ev = { .type = IVR_EVENT_CALL_START };
	ev.u.call_start.ani = "+15551230001";
	ev.u.call_start.dnis = "8000";
	ev.u.call_start.flow = "bank";
	ev.u.call_start.vars = vars;
	ev.u.call_start.n_vars = 2;
	json_t *j = roundtrip(&ev, 42);
	ivr_check(j != NULL);
	if (j) {
		ivr_check(strcmp(jstr(j, "type"), "call_start") == 0);
		ivr_check_int_eq(jint(j, "call_id"), 42);
		ivr_check_int_eq(jint(j, "seq"), 0);
		ivr_check(jint(j, "ts_ns") >= (long long)t0);
		ivr_check(jint(j, "wall_ms") > 1600000000000ll);
		ivr_check(strcmp(jstr(j, "ani"), "+15551230001") == 0);
		ivr_check(strcmp(jstr(j, "dnis"), "8000") == 0);
		ivr_check(strcmp(jstr(j, "flow"), "bank") == 0);
		json_t *v = json_object_get(j, "vars");
		ivr_check(json_is_object(v) && json_object_size(v) == 2);
		ivr_check(strcmp(jstr(v, "tier"), "gold") == 0);
		ivr_check(strcmp(jstr(v, "lang"), "en") == 0);
		json_decref(j);
	}

	ev = (struct ivr_event){ .type = IVR_EVENT_DTMF };
	ev.u.dtmf.digit = '7';
	ev.u.dtmf.source = IVR_EVENT_DTMF_RFC4733;
	ev.u.dtmf.duration_ms = 120;
	j = roundtrip(&ev, 42);
	ivr_check(j && strcmp(jstr(j, "digit"), "7") == 0);
	ivr_check(j && strcmp(jstr(j, "source"), "rfc4733") == 0);
	ivr_check(j && jint(j, "duration_ms") == 120);
	ivr_check(j && json_object_get(j, "masked") == NULL);
	ivr_check(j && jint(j, "seq") == 1);
	json_decref(j);
	/* Inside a sensitive node the digit never reaches the ring. */
	ev.u.dtmf.sensitive = true;
	ev.u.dtmf.source = IVR_EVENT_DTMF_INBAND;
	j = roundtrip(&ev, 42);
	ivr_check(j && strcmp(jstr(j, "digit"), "*") == 0);
	ivr_check(j && strcmp(jstr(j, "source"), "inband") == 0);
	ivr_check(j && json_is_true(json_object_get(j, "masked")));
	json_decref(j);

	ev = (struct ivr_event){ .type = IVR_EVENT_SPEECH_START, .u.speech.offset_ms = 1500 };
	j = roundtrip(&ev, 42);
	ivr_check(j && strcmp(jstr(j, "type"), "speech_start") == 0 &&
		  jint(j, "offset_ms") == 1500);
	json_decref(j);
	ev.type = IVR_EVENT_SPEECH_END;
	ev.u.speech.offset_ms = 2900;
	j = roundtrip(&ev, 42);
	ivr_check(j && strcmp(jstr(j, "type"), "speech_end") == 0 && jint(j, "offset_ms") == 2900);
	json_decref(j);

	struct ivr_event_nbest nb[] = { { "pay my bill", "pay", 0.82f },
					{ "pay my bill", "balance", 0.31f },
					{ "play my bill", NULL, 0.11f } };
	ev = (struct ivr_event){ .type = IVR_EVENT_RECOGNITION };
	ev.u.recognition.text = "pay my bill";
	ev.u.recognition.intent = "pay";
	ev.u.recognition.confidence = 0.82f;
	ev.u.recognition.nbest = nb;
	ev.u.recognition.n_nbest = 3;
	j = roundtrip(&ev, 42);
	ivr_check(j != NULL);
	if (j) {
		ivr_check(strcmp(jstr(j, "intent"), "pay") == 0);
		ivr_check_near(json_real_value(json_object_get(j, "confidence")), 0.82, 1e-3);
		json_t *a = json_object_get(j, "nbest");
		ivr_check(json_is_array(a) && json_array_size(a) == 3);
		for (size_t k = 0; k < 3; k++) {
			json_t *e = json_array_get(a, k);
			ivr_check(strcmp(jstr(e, "text"), nb[k].text) == 0);
			ivr_check_near(json_real_value(json_object_get(e, "confidence")),
				       nb[k].confidence, 1e-3);
			if (nb[k].intent)
				ivr_check(jstr(e, "intent") &&
					  strcmp(jstr(e, "intent"), nb[k].intent) == 0);
			else /* no intent: present and null, not left out */
				ivr_check(json_is_null(json_object_get(e, "intent")));
		}
		json_decref(j);
	}
	/* as ivr-events / ivr-demo print it: the same entries on one JSON line */
	{
		unsigned char scratch[1024], buf[1024];
		char js[4096], *out = NULL;
		size_t out_len = 0;
		ivr_check(ivr_event_publish(&ring, 0, 43, 0, 0, &ev, scratch, sizeof(scratch)) >=
			  1);
		struct ivr_shmring_rec rec;
		ivr_check_int_eq(ivr_shmring_read(&rd, &rec, buf, sizeof(buf)), 1);
		FILE *f = open_memstream(&out, &out_len);
		ivr_check(f != NULL);
		if (f) {
			ivr_check_int_eq(ivr_event_print(f, &rec, buf, js, sizeof(js)), 0);
			fclose(f);
			ivr_check(out_len > 0 && out[out_len - 1] == '\n');
			json_error_t err;
			json_t *p = json_loads(out, 0, &err);
			json_t *a = p ? json_object_get(p, "nbest") : NULL;
			ivr_check_msg(json_array_size(a) == 3, "%s", out);
			ivr_check(strcmp(jstr(json_array_get(a, 0), "intent"), "pay") == 0 &&
				  strcmp(jstr(json_array_get(a, 1), "intent"), "balance") == 0 &&
				  json_is_null(json_object_get(json_array_get(a, 2), "intent")));
			json_decref(p);
		}
		free(out);
	}
	/* an intent name longer than an entry can carry: refused whole, never cut */
	{
		char longname[300];
		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		struct ivr_event_nbest bad = { "pay my bill", longname, 0.5f };
		struct ivr_event e2 = ev;
		e2.u.recognition.nbest = &bad;
		e2.u.recognition.n_nbest = 1;
		unsigned char big[2048];
		ivr_check_int_eq(ivr_event_encode(big, sizeof(big), &e2), -EMSGSIZE);
	}
	/*
	 * A record from an engine built before entries carried intents (key 12: f32
	 * confidence, text) still decodes, without an "intent" member.
	 */
	{
		const unsigned char old[] = { 12, 8, 0, 0, 0, 0x40, 0x3f, 'p', 'a', 'y', '!' };
		struct ivr_shmring_rec rec = { .seq = 1,
					       .type = IVR_EVENT_RECOGNITION,
					       .len = sizeof(old) };
		char js[512];
		ivr_check(ivr_event_to_json(&rec, old, js, sizeof(js)) > 0);
		json_error_t err;
		json_t *o = json_loads(js, 0, &err);
		json_t *e = json_array_get(json_object_get(o, "nbest"), 0);
		ivr_check_msg(e && !strcmp(jstr(e, "text"), "pay!") &&
				      !json_object_get(e, "intent") &&
				      !json_object_get(o, "malformed"),
			      "%s", js);
		ivr_check_near(json_real_value(json_object_get(e, "confidence")), 0.75, 1e-6);
		json_decref(o);
	}

	const int node_types[] = { IVR_EVENT_NODE_ENTER, IVR_EVENT_NODE_EXIT };
	for (int i = 0; i < 2; i++) {
		ev = (struct ivr_event){ .type = (uint8_t)node_types[i] };
		ev.u.node.node = "main";
		ev.u.node.reason = "barge_in";
		j = roundtrip(&ev, 42);
		ivr_check(j && strcmp(jstr(j, "type"), ivr_event_type_name(node_types[i])) == 0);
		ivr_check(j && strcmp(jstr(j, "node"), "main") == 0 &&
			  strcmp(jstr(j, "reason"), "barge_in") == 0);
		json_decref(j);
	}
	const int miss_types[] = { IVR_EVENT_NO_INPUT, IVR_EVENT_NO_MATCH };
	for (int i = 0; i < 2; i++) {
		ev = (struct ivr_event){ .type = (uint8_t)miss_types[i] };
		ev.u.miss.node = "pay_node";
		ev.u.miss.count = 2;
		j = roundtrip(&ev, 42);
		ivr_check(j && strcmp(jstr(j, "type"), ivr_event_type_name(miss_types[i])) == 0);
		ivr_check(j && jint(j, "count") == 2 && strcmp(jstr(j, "node"), "pay_node") == 0);
		json_decref(j);
	}

	ev = (struct ivr_event){ .type = IVR_EVENT_CALL_END };
	ev.u.call_end.cause = "caller_hangup";
	ev.u.call_end.duration_ms = 61000;
	j = roundtrip(&ev, 42);
	ivr_check(j && strcmp(jstr(j, "cause"), "caller_hangup") == 0 &&
		  jint(j, "duration_ms") == 61000);
	json_decref(j);

	/* fax: tone name, reversals as a JSON boolean, onset. */
	const struct {
		uint8_t tone;
		bool rev;
		uint32_t off;
		const char *name;
	} fx[] = { { IVR_EVENT_FAX_CNG, false, 3500, "cng" },
		   { IVR_EVENT_FAX_ANS, true, 0, "ans" },
		   { IVR_EVENT_FAX_ANS, false, 4000000000u, "ans" } };
	for (size_t i = 0; i < IVR_N_ELEMENTS(fx); i++) {
		ev = (struct ivr_event){ .type = IVR_EVENT_FAX };
		ev.u.fax.tone = fx[i].tone;
		ev.u.fax.reversals = fx[i].rev;
		ev.u.fax.offset_ms = fx[i].off;
		j = roundtrip(&ev, 43);
		ivr_check(j && strcmp(jstr(j, "type"), "fax") == 0);
		ivr_check(j && strcmp(jstr(j, "tone"), fx[i].name) == 0);
		ivr_check(j && json_is_boolean(json_object_get(j, "reversals")) &&
			  json_is_true(json_object_get(j, "reversals")) == fx[i].rev);
		ivr_check(j && jint(j, "offset_ms") == (long long)fx[i].off);
		ivr_check(j && jint(j, "call_id") == 43);
		json_decref(j);
	}
	return IVR_TEST_RESULT();
}

IVR_TEST(transfer_handoff_spans_slots)
{
	/* A long journey: 40 nodes and 20 utterances, several slots in a 128-byte ring. */
	struct ivr_event_step path[40];
	char names[40][16];
	char lines[20][80];
	const char *transcript[20];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "node_%d", i);
		path[i] = (struct ivr_event_step){ names[i], (uint32_t)i * 1000,
						   (uint32_t)i * 1000 + 900 };
	}
	for (int i = 0; i < 20; i++) {
		snprintf(lines[i], sizeof(lines[i]), "utterance %d: I want to pay my bill", i);
		transcript[i] = lines[i];
	}
	struct ivr_event ev = { .type = IVR_EVENT_TRANSFER };
	ev.u.transfer.reason = "escalation";
	ev.u.transfer.intent = "pay";
	ev.u.transfer.skill = "billing";
	ev.u.transfer.priority = 2;
	ev.u.transfer.path = path;
	ev.u.transfer.n_path = 40;
	ev.u.transfer.transcript = transcript;
	ev.u.transfer.n_transcript = 20;
	ev.u.transfer.no_match_total = 3;
	ev.u.transfer.no_input_total = 1;
	ev.u.transfer.barge_ins = 4;
	ev.u.transfer.zero_outs = 1;
	ev.u.transfer.ivr_ms = 40900;
	unsigned char scratch[8192];
	int len = ivr_event_encode(scratch, sizeof(scratch), &ev);
	ivr_check(len > 1000);
	/* Too small a scratch buffer: refused, never truncated. */
	ivr_check_int_eq(ivr_event_encode(scratch, (size_t)len - 1, &ev), -EMSGSIZE);
	ivr_check_int_eq(ivr_event_encode(scratch, (size_t)len, &ev), len);
	json_t *j = roundtrip(&ev, 7);
	ivr_check(j != NULL);
	if (j) {
		ivr_check(strcmp(jstr(j, "type"), "transfer") == 0);
		ivr_check(strcmp(jstr(j, "reason"), "escalation") == 0);
		ivr_check(strcmp(jstr(j, "skill"), "billing") == 0);
		ivr_check_int_eq(jint(j, "priority"), 2);
		ivr_check_int_eq(jint(j, "ivr_ms"), 40900);
		ivr_check_int_eq(jint(j, "barge_ins"), 4);
		json_t *p = json_object_get(j, "path");
		ivr_check(json_is_array(p) && json_array_size(p) == 40);
		ivr_check(strcmp(jstr(json_array_get(p, 39), "node"), "node_39") == 0);
		ivr_check_int_eq(jint(json_array_get(p, 39), "exit_ms"), 39900);
		json_t *t = json_object_get(j, "transcript");
		ivr_check(json_is_array(t) && json_array_size(t) == 20);
		ivr_check(strcmp(json_string_value(json_array_get(t, 19)), lines[19]) == 0);
		json_decref(j);
	}
	/* Beyond the ring's largest record: the publish is refused with -EMSGSIZE. */
	static struct ivr_event_step big[400];
	for (int i = 0; i < 400; i++)
		big[i] = (struct ivr_event_step){ "a_rather_long_node_name_here", 0, 0 };
	ev.u.transfer.path = big;
	ev.u.transfer.n_path = 400;
	static unsigned char huge[65536];
	ivr_check_int_eq(ivr_event_publish(&ring, 0, 7, 0, 0, &ev, huge, sizeof(huge)), -EMSGSIZE);
	return IVR_TEST_RESULT();
}

IVR_TEST(escaping)
{
	const char *nasty = "quote\" back\\slash \n\t\x01 ctrl \xc3\xa9t\xc3\xa9 bad\xff\xc3 end";
	struct ivr_event ev = { .type = IVR_EVENT_RECOGNITION };
	ev.u.recognition.text = nasty;
	ev.u.recognition.intent = "";
	ev.u.recognition.confidence = 0.5f;
	json_t *j = roundtrip(&ev, 1);
	ivr_check(j != NULL);
	if (j) {
		/* Valid bytes survive exactly; the invalid ones become U+FFFD. */
		const char *want = "quote\" back\\slash \n\t\x01 ctrl \xc3\xa9t\xc3\xa9 bad"
				   "\xef\xbf\xbd\xef\xbf\xbd end";
		ivr_check(strcmp(jstr(j, "text"), want) == 0);
		ivr_check(strcmp(jstr(j, "intent"), "") == 0);
		json_decref(j);
	}
	/* NaN confidence renders as null (JSON has no NaN). */
	ev.u.recognition.text = "x";
	ev.u.recognition.confidence = NAN;
	j = roundtrip(&ev, 1);
	ivr_check(j && json_is_null(json_object_get(j, "confidence")));
	json_decref(j);
	return IVR_TEST_RESULT();
}

IVR_TEST(bad_input)
{
	unsigned char b[64];
	struct ivr_event ev = { .type = 0 };
	ivr_check_int_eq(ivr_event_encode(b, sizeof(b), &ev), -EINVAL);
	ev.type = IVR_EVENT_TYPE_MAX;
	ivr_check_int_eq(ivr_event_encode(b, sizeof(b), &ev), -EINVAL);
	ivr_check_int_eq(ivr_event_encode(b, sizeof(b), NULL), -EINVAL);
	ev.type = IVR_EVENT_CALL_END;
	ev.u.call_end.cause = "x";
	ivr_check_int_eq(ivr_event_encode(NULL, 0, &ev), -EMSGSIZE);
	ivr_check(ivr_event_type_name(0) == NULL && ivr_event_type_name(200) == NULL);
	/* A fax tone other than CNG or ANS. */
	ev = (struct ivr_event){ .type = IVR_EVENT_FAX };
	ev.u.fax.tone = 2;
	ivr_check_int_eq(ivr_event_encode(b, sizeof(b), &ev), -EINVAL);
	ev.u.fax.tone = IVR_EVENT_FAX_CNG;
	ivr_check_int_eq(ivr_event_encode(b, 8, &ev), -EMSGSIZE);

	/* Malformed payloads still give valid JSON, flagged. */
	struct ivr_shmring_rec rec = { .seq = 1, .type = IVR_EVENT_CALL_START };
	char js[512];
	const unsigned char cases[][8] = {
		{ 1, 200, 0, 'a' },	     /* length past the end */
		{ 99, 1, 0, 'a' },	     /* unknown key */
		{ 7, 2, 0, 1, 2 },	     /* u32 of 2 bytes */
		{ 4, 1, 0, 9 },		     /* kv too short */
		{ 4, 3, 0, 9, 0, 'k' },	     /* kv key length past value */
		{ 12, 2, 0, 1, 2 },	     /* nbest too short */
		{ 18, 3, 0, 1, 2, 3 },	     /* path step too short */
		{ 1, 1 },		     /* truncated field header */
		{ 29, 4, 0, 1, 2, 3, 4 },    /* n-best entry with intent too short */
		{ 29, 5, 0, 0, 0, 0, 0, 1 }, /* its intent length past the value */
	};
	const size_t lens[] = { 4, 4, 5, 4, 6, 5, 6, 2, 7, 8 };
	for (size_t i = 0; i < IVR_N_ELEMENTS(cases); i++) {
		rec.len = (uint32_t)lens[i];
		int n = ivr_event_to_json(&rec, cases[i], js, sizeof(js));
		ivr_check(n > 0);
		json_error_t err;
		json_t *j = json_loads(js, 0, &err);
		ivr_check_msg(j != NULL, "case %zu: %s", i, js);
		ivr_check_msg(j && json_is_true(json_object_get(j, "malformed")), "case %zu: %s", i,
			      js);
		json_decref(j);
	}
	/* Unknown record type. */
	rec.type = 77;
	rec.len = 0;
	ivr_check(ivr_event_to_json(&rec, NULL, js, sizeof(js)) > 0);
	ivr_check(strstr(js, "\"type\":\"unknown\",\"type_id\":77") != NULL);
	/* Output too small. */
	ivr_check_int_eq(ivr_event_to_json(&rec, NULL, js, 10), -ENOSPC);
	ivr_check_int_eq(ivr_event_to_json(&rec, NULL, js, 0), -ENOSPC);
	return IVR_TEST_RESULT();
}

int main(int argc, char **argv)
{
	ivr_test_init(argc, argv);
	snprintf(ring_file, sizeof(ring_file), "/tmp/ivr-test-events-%d.ring", (int)getpid());
	struct ivr_shmring_cfg cfg = { .capacity = 1024, .slot_size = 128 };
	if (ivr_shmring_create(&ring, ring_file, &cfg) != 0 ||
	    ivr_shmring_reader_open(&rd, ring_file, IVR_SHMRING_FROM_OLDEST) != 0) {
		fprintf(stderr, "cannot create ring %s\n", ring_file);
		return 1;
	}
	ivr_test_run(all_types_roundtrip);
	ivr_test_run(transfer_handoff_spans_slots);
	ivr_test_run(escaping);
	ivr_test_run(bad_input);
	ivr_shmring_reader_close(&rd);
	ivr_shmring_destroy(&ring, 1);
	return ivr_test_summary();
}
