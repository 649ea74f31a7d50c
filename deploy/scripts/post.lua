-- wrk: POST a message (wrk -s post.lua), headers from -H stay.
wrk.method = "POST"
wrk.body = '{"text":"wrk through the gateway","tag":"benchpost"}'
wrk.headers["Content-Type"] = "application/json"
