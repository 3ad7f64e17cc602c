//! A stateful fake of the GitHub endpoints the tuned-profile pull request uses: git refs,
//! repository contents and pull requests, remembered between calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

const REPO: &str = "/repos/bitnet/engine";

#[derive(Default)]
pub struct Fake {
    pub branches: HashMap<String, String>,
    pub files: HashMap<(String, String), (String, String)>,
    pub pulls: Vec<(u64, String, String)>,
    pub file_writes: usize,
    pub pull_creates: usize,
    pub pull_updates: usize,
}

#[derive(Clone)]
pub struct FakeGithub(pub Arc<Mutex<Fake>>);

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Respond for FakeGithub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut f = self.0.lock().unwrap();
        let p = req.url.path().strip_prefix(REPO).unwrap_or("").to_string();
        let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let not_found = ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"}));
        match (req.method.as_str(), p.as_str()) {
            ("GET", r) if r.starts_with("/git/ref/heads/") => {
                match f.branches.get(&r["/git/ref/heads/".len()..]) {
                    Some(sha) => ResponseTemplate::new(200)
                        .set_body_json(json!({"ref": r, "object": {"sha": sha, "type": "commit"}})),
                    None => not_found,
                }
            }
            ("POST", "/git/refs") => {
                let name = body["ref"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("refs/heads/")
                    .to_string();
                if f.branches.contains_key(&name) {
                    return ResponseTemplate::new(422)
                        .set_body_json(json!({"message": "Reference already exists"}));
                }
                f.branches
                    .insert(name, body["sha"].as_str().unwrap().to_string());
                ResponseTemplate::new(201)
                    .set_body_json(json!({"ref": body["ref"], "object": {"sha": body["sha"]}}))
            }
            ("GET", r) if r.starts_with("/contents/") => {
                let key = (
                    query.get("ref").cloned().unwrap_or_default(),
                    r["/contents/".len()..].to_string(),
                );
                match f.files.get(&key) {
                    Some((sha, content)) => ResponseTemplate::new(200).set_body_json(
                        json!({"sha": sha, "content": content, "encoding": "base64"}),
                    ),
                    None => not_found,
                }
            }
            ("PUT", r) if r.starts_with("/contents/") => {
                let key = (
                    body["branch"].as_str().unwrap().to_string(),
                    r["/contents/".len()..].to_string(),
                );
                if let Some((sha, _)) = f.files.get(&key) {
                    if body["sha"].as_str() != Some(sha.as_str()) {
                        return ResponseTemplate::new(409)
                            .set_body_json(json!({"message": "sha does not match"}));
                    }
                }
                f.file_writes += 1;
                let sha = format!("blob{}", f.file_writes);
                f.files.insert(
                    key,
                    (sha.clone(), body["content"].as_str().unwrap().to_string()),
                );
                ResponseTemplate::new(200).set_body_json(json!({"content": {"sha": sha}}))
            }
            ("GET", "/pulls") => {
                let head = query.get("head").cloned().unwrap_or_default();
                let open: Vec<Value> = f
                    .pulls
                    .iter()
                    .filter(|(_, h, _)| format!("bitnet:{h}") == head)
                    .map(|(n, _, _)| json!({"number": n}))
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!(open))
            }
            ("POST", "/pulls") => {
                f.pull_creates += 1;
                let n = 100 + f.pull_creates as u64;
                f.pulls.push((
                    n,
                    body["head"].as_str().unwrap().into(),
                    body["title"].as_str().unwrap().into(),
                ));
                ResponseTemplate::new(201).set_body_json(json!({"number": n}))
            }
            ("PATCH", r) if r.starts_with("/pulls/") => {
                f.pull_updates += 1;
                ResponseTemplate::new(200)
                    .set_body_json(json!({"number": r["/pulls/".len()..].parse::<u64>().unwrap()}))
            }
            _ => not_found,
        }
    }
}
