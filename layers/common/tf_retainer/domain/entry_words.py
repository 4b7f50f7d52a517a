"""Compression only: the preset dictionary of chain entries packed in format 2 (``chain.pack``). Two whole
entries as the service writes them, their ids, hashes, times and the vendor's own values left out: a call's
request about to be sent, and an outcome holding TrustedForm's answer (match, retain and insights), the
rules' verdicts and the lead as it became. An entry repeats most of one of them, so it packs into a third of
its size: every entry of a realistic lead fits one 1 KB write unit (issue 22: format 1's outcome entries
were just over it).

Never change it: every entry packed in format 2 would become unreadable. A better dictionary is a new
format byte (chain.py), with this one kept for the entries already written.
"""

DICTIONARY_V2 = (
    b'{"at":"","calls":[{"attempt":1,"call_id":"1.1/","request":{"body":"{\\"match_lead\\":{\\"email\\":\\"'
    b'\\",\\"phone\\":\\"\\"},\\"insights\\":{\\"properties\\":[\\"age_seconds\\",\\"bot_detected\\",\\"cre'
    b'ated_at\\",\\"domain\\",\\"expires_at\\",\\"is_masked\\",\\"page_url\\"]}}","headers":{"accept":"appl'
    b'ication/json","accept-encoding":"gzip, deflate","api-version":"4.0","authorization":"Basic [REDACTED]'
    b'","connection":"keep-alive","content-length":"233","content-type":"application/json","host":"cert.tru'
    b'stedform.com","user-agent":"tf-retainer/0.1"},"method":"POST","url":"https://cert.trustedform.com/"}}'
    b'],"events":[{"actor":"intake","at":"","detail":{"status":"received","vendor":""},"type":"received"},{'
    b'"actor":"intake","detail":{"attempt":1,"call_id":"1.1/"},"type":"calling"}],"exchanges":[],"prev":"",'
    b'"seq":1,"v":1}{"at":"","events":[{"actor":"intake","detail":{"attempt":1,"duration_ms":2.1,"http_stat'
    b'us":200,"tf_outcome":"success"},"type":"attempt"},{"actor":"intake","detail":{"insights":{"properties'
    b'":{"age_seconds":60,"bot_detected":false,"created_at":"","domain":"","expires_at":"","is_masked":fals'
    b'e,"page_url":"https:///auto-insurance/quote"}},"rule_version":"default@1","verdicts":[{"age_seconds":'
    b'61,"max_seconds":900,"mode":"enforce","passed":true,"reason":"lead_too_old","rule":"max_age"},{"bot_d'
    b'etected":false,"mode":"enforce","passed":true,"reason":"bot_detected","rule":"bot_detected"},{"domain'
    b'":"","mode":"enforce","page_url":"https:///auto-insurance/quote","passed":true,"reason":"domain_not_a'
    b'llowed","rule":"domains"},{"mode":"enforce","passed":true,"reason":"lead_match_failed","rule":"lead_m'
    b'atch"}]},"type":"decided"},{"actor":"intake","detail":{},"type":"retained"}],"exchanges":[{"attempt":'
    b'1,"call_id":"1.1/","duration_ms":2.1,"request":{"body":"{\\"match_lead\\":{\\"email\\":\\"\\",\\"phon'
    b'e\\":\\"\\"},\\"retain\\":{\\"reference\\":\\"\\",\\"vendor\\":\\"\\"},\\"insights\\":{\\"properties'
    b'\\":[\\"age_seconds\\",\\"bot_detected\\",\\"created_at\\",\\"domain\\",\\"expires_at\\",\\"is_masked'
    b'\\",\\"page_url\\"]}}","headers":{"accept":"application/json","accept-encoding":"gzip, deflate","api-'
    b'version":"4.0","authorization":"Basic [REDACTED]","connection":"keep-alive","content-length":"327","c'
    b'ontent-type":"application/json","host":"cert.trustedform.com","user-agent":"tf-retainer/0.1"},"method'
    b'":"POST","url":"https://cert.trustedform.com/"},"response":{"body":"{\\"outcome\\": \\"success\\", \\'
    b'"reason\\": null, \\"match_lead\\": {\\"email\\": \\"\\", \\"phone\\": \\"\\", \\"result\\": {\\"emai'
    b'l_match\\": true, \\"phone_match\\": true, \\"success\\": true}}, \\"retain\\": {\\"reference\\": \\"'
    b'\\", \\"vendor\\": \\"\\", \\"results\\": {\\"expires_at\\": \\"\\", \\"masked_cert_url\\": \\"https:'
    b'//cert.trustedform.com/\\", \\"previously_retained\\": false}}, \\"insights\\": {\\"properties\\": {'
    b'\\"age_seconds\\": 60, \\"bot_detected\\": false, \\"created_at\\": \\"\\", \\"domain\\": \\"\\", \\"'
    b'expires_at\\": \\"\\", \\"is_masked\\": false, \\"page_url\\": \\"https:///auto-insurance/quote\\"}}}'
    b'","headers":{"content-length":"766","content-type":"application/json","date":"","server":""},"http_ve'
    b'rsion":"HTTP/1.1","reason":"OK","status":200},"started_at":""}],"prev":"","seq":2,"state":{"attempts"'
    b':1,"burned_attempts":1,"cert_id":"","cert_kind":"web","certificate_url":"https://cert.trustedform.com'
    b'/","created_at":"","deadline":"","expires_at":"","final_at":"","lead":{"sub_id":"","utm_campaign":"sp'
    b'ring-auto-quotes","utm_source":"google"},"lead_id":"","lead_match":{"email_match":true,"phone_match":'
    b'true,"success":true},"masked":false,"masked_cert_url":"https://cert.trustedform.com/","payload_hash":'
    b'"","place":{"area_code":"512"},"previously_retained":false,"received_at":"","retained":true,"rule_ver'
    b'sion":"default@1","rules_passed":true,"status":"retained","tf_operations":9,"tf_outcome":"success","u'
    b'pdated_at":"","vendor":"","vendor_lead_id":"","verdicts":[{"age_seconds":61,"max_seconds":900,"mode":'
    b'"enforce","passed":true,"reason":"lead_too_old","rule":"max_age"},{"bot_detected":false,"mode":"enfor'
    b'ce","passed":true,"reason":"bot_detected","rule":"bot_detected"},{"domain":"","mode":"enforce","page_'
    b'url":"https:///auto-insurance/quote","passed":true,"reason":"domain_not_allowed","rule":"domains"},{"'
    b'mode":"enforce","passed":true,"reason":"lead_match_failed","rule":"lead_match"}]},"v":1}'
)
