//! What a user sees after importing each of the other agents' formats.

use nocturne_core::{Counterpart, EventKind, NewSession, Role};
use nocturne_ingest::{Format, Hints};

use crate::common::{of_kind, parsed, session, sessions};

fn users(s: &NewSession) -> Vec<&str> {
    s.events
        .iter()
        .filter(|e| e.role == Role::User && e.kind == EventKind::UserMessage)
        .filter_map(|e| e.text.as_deref())
        .collect()
}

#[test]
fn codex_rollouts_keep_one_copy_of_each_message_and_the_exit_codes() {
    let p = parsed("codex-rollout.jsonl", Format::Auto, &Hints::default());
    let s = &p.sessions[0];
    assert_eq!(s.id, "019e1625-789d-76c0-80ab-3724b5ddb799");
    assert_eq!((s.format.as_str(), s.counterpart), ("codex", Some(Counterpart::Operator)));
    assert_eq!(s.title.as_deref(), Some("run the tests and fix what fails"));
    // The mirrored user message is counted once; the one only in the event
    // stream (Codex Desktop style) is kept.
    assert_eq!(users(s), ["run the tests and fix what fails", "also bump the version"]);
    let system: Vec<_> = of_kind(s, EventKind::System).iter().filter_map(|e| e.text.as_deref()).collect();
    assert_eq!(system.len(), 4, "instructions, permissions, AGENTS.md, environment: {system:?}");
    let assistant: Vec<_> = of_kind(s, EventKind::AssistantMessage).iter().filter_map(|e| e.text.as_deref()).collect();
    assert_eq!(assistant, ["Fixed the double discount in `src/cart/total.ts`; the tests pass."]);

    let result =
        |id: &str| s.events.iter().find(|e| e.role == Role::Tool && e.tool_use_id.as_deref() == Some(id)).unwrap();
    assert!(result("call_1").is_error, "Process exited with code 1");
    assert_eq!(result("call_1").tool_name.as_deref(), Some("exec_command"));
    assert!(!result("call_2").is_error, "still running: no exit code yet");
    assert!(!result("call_3").is_error, "exited with code 0");
    assert!(!result("call_4").is_error, "metadata.exit_code 0");
    assert_eq!(result("call_4").text.as_deref(), Some("Success. Updated the following files:\nM src/cart/total.ts\n"));
    let calls: Vec<_> = of_kind(s, EventKind::ToolCall).iter().filter_map(|e| e.tool_name.as_deref()).collect();
    assert_eq!(calls, ["exec_command", "exec_command", "write_stdin", "apply_patch", "web_search"]);
    let skipped: Vec<_> = p.report.skipped.keys().map(String::as_str).collect();
    assert_eq!(
        skipped,
        [
            "event_msg:agent_message",
            "event_msg:exec_command_end",
            "event_msg:patch_apply_end",
            "event_msg:task_complete",
            "event_msg:task_started",
            "event_msg:token_count",
            "event_msg:user_message",
            "event_msg:web_search_end",
            "turn_context"
        ]
    );
    let aborted = s.events.iter().find(|e| e.raw.contains("turn_aborted")).unwrap();
    assert_eq!((aborted.kind, aborted.text.as_deref()), (EventKind::Other, Some("interrupted")));
}

#[test]
fn old_codex_rollouts_are_read_too() {
    let p = parsed("codex-legacy.jsonl", Format::Auto, &Hints::default());
    let s = &p.sessions[0];
    assert_eq!(s.id, "5973b6c0-94b8-487b-a530-2aeb6098ae0e");
    assert_eq!(users(s), ["why is the build red?"]);
    let result = of_kind(s, EventKind::ToolResult)[0];
    assert!(result.is_error, "metadata.exit_code 2");
    assert_eq!(result.text.as_deref(), Some("src/index.ts(3,1): error TS2304: Cannot find name 'foo'.\n"));
    assert_eq!(p.report.skipped.get("state"), Some(&2));
}

#[test]
fn gemini_tool_calls_have_results_and_errors_from_their_status() {
    let s = session("gemini-session.json", Format::Auto);
    assert_eq!((s.id.as_str(), s.format.as_str()), ("5b959dae-8655-4cd1-b10f-720b8c336ea2", "gemini"));
    assert_eq!(s.counterpart, Some(Counterpart::Operator));
    assert_eq!(s.title.as_deref(), Some("Make a copy of lead.txt named lead_v2.txt and shorten it"));
    let results = of_kind(&s, EventKind::ToolResult);
    assert_eq!(results.len(), 2);
    assert!(!results[0].is_error);
    assert!(results[1].is_error, "status error");
    assert_eq!(results[1].tool_name.as_deref(), Some("write_file"));
    assert!(results[1].text.as_deref().unwrap().starts_with("File path must be within"));
    let thought = s.events.iter().find(|e| e.kind == EventKind::Other).unwrap();
    assert_eq!(thought.text.as_deref(), Some("Reading the file: I need the current text first."));
    let system: Vec<_> = of_kind(&s, EventKind::System).iter().filter_map(|e| e.text.as_deref()).collect();
    assert_eq!(system, ["Request cancelled.", "[API Error: quota exceeded]"]);
}

#[test]
fn tau2_simulations_are_customer_sessions_with_their_reward() {
    let p = parsed("tau2-results.json", Format::Auto, &Hints::default());
    let ids: Vec<_> = p.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["74232053-3f8b-4765-9b86-35a3ec668a64", "a3ca649a-9981-4268-bf0c-b45c96cd8dba"]);
    let (won, lost) = (&p.sessions[0], &p.sessions[1]);
    assert!(p.sessions.iter().all(|s| s.counterpart == Some(Counterpart::Customer) && s.format == "tau-bench"));
    let outcome = won.outcome.as_ref().unwrap();
    assert_eq!((outcome.score, outcome.comment.as_deref()), (1.0, Some("user_stop")));
    assert_eq!(lost.outcome.as_ref().unwrap().score, 0.0);
    assert_eq!(won.title.as_deref(), Some("I want to exchange my keyboard. I'm Yusuf Rossi, zip 19122."));
    let policy = &won.events[0];
    assert_eq!(
        (policy.role, policy.text.as_deref()),
        (Role::System, Some("# Retail agent policy\nAuthenticate the user before acting."))
    );
    let results = of_kind(won, EventKind::ToolResult);
    assert!(results[0].is_error, "error flag");
    assert_eq!(results[0].tool_name.as_deref(), Some("find_user_id_by_name_zip"));
    assert!(!results[1].is_error);
    let end = won.events.last().unwrap();
    assert_eq!(end.text.as_deref(), Some("reward: 1; termination: user_stop"));
    assert!(end.raw.contains("db_check") && !end.raw.contains("\"messages\""));
    // The simulated customer's own tool call.
    let user_call = of_kind(lost, EventKind::ToolCall)[0];
    assert_eq!((user_call.role, user_call.tool_name.as_deref()), (Role::User, Some("check_status_bar")));
    assert_eq!(p.report.skipped.get("task"), Some(&2));
    // The evaluator's expected actions come after the record, one event each.
    assert!(of_kind(won, EventKind::EvaluatorCheck).is_empty(), "no action checks in the first simulation");
    let kinds: Vec<EventKind> = lost.events.iter().rev().take(3).rev().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Other, EventKind::EvaluatorCheck, EventKind::EvaluatorCheck]);
    let checks: Vec<_> = of_kind(lost, EventKind::EvaluatorCheck)
        .iter()
        .map(|e| (e.role, e.tool_name.as_deref(), e.tool_input.as_deref(), e.is_error, e.text.as_deref()))
        .collect();
    assert_eq!(
        checks,
        [
            (
                Role::System,
                Some("check_status_bar"),
                Some("{}"),
                false,
                Some("evaluator expected user call check_status_bar {}: met")
            ),
            (
                Role::System,
                Some("cancel_pending_order"),
                // Only the arguments the evaluator compares (`compare_args`).
                Some(r##"{"order_id":"#W2378156"}"##),
                true,
                Some(r##"evaluator expected assistant call cancel_pending_order {"order_id":"#W2378156"}: not met"##)
            ),
        ]
    );
}

#[test]
fn tau_bench_v1_results_are_read_too() {
    let all = sessions("tau-bench-v1-results.json", Format::Auto);
    let ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["tau-bench-v1-results/task-12/trial-0", "tau-bench-v1-results/task-12/trial-1"]);
    let s = &all[0];
    assert_eq!(s.outcome.as_ref().unwrap().score, 0.0);
    let result = of_kind(s, EventKind::ToolResult)[0];
    assert!(result.is_error, "Error: user not found");
    assert_eq!(result.tool_name.as_deref(), Some("find_user_id_by_email"));
    assert_eq!(s.events[0].role, Role::System);
    // The task's expected actions, unmet when no call of the agent's had their name and arguments.
    let checks: Vec<_> =
        of_kind(s, EventKind::EvaluatorCheck).iter().map(|e| (e.tool_name.as_deref(), e.is_error)).collect();
    assert_eq!(checks, [(Some("find_user_id_by_email"), false), (Some("find_user_id_by_name_zip"), true)]);
    assert_eq!(s.events.last().unwrap().kind, EventKind::EvaluatorCheck, "after the record");
    assert!(of_kind(&all[1], EventKind::EvaluatorCheck).is_empty(), "no actions stated");
}

#[test]
fn tau_display_text_is_split_into_turns() {
    let all = sessions("tau-display.jsonl", Format::Auto);
    assert_eq!(all.len(), 2);
    let s = &all[0];
    assert_eq!((s.id.as_str(), s.counterpart), ("tau-display/1", Some(Counterpart::Customer)));
    let kinds: Vec<_> = s.events.iter().map(|e| e.kind).collect();
    use EventKind::*;
    assert_eq!(
        kinds,
        [UserMessage, AssistantMessage, UserMessage, ToolCall, ToolResult, ToolCall, ToolResult, AssistantMessage]
    );
    assert!(s.events[4].is_error && !s.events[6].is_error);
    assert_eq!(s.events[7].text.as_deref(), Some("Your gift card balance is $60.\n\nAnything else?"));
}

#[test]
fn swe_agent_templates_are_system_and_actions_are_tool_calls() {
    let s = session("swe-agent/gpt4__demo-run/repo-i1.traj", Format::Auto);
    assert_eq!(s.id, "gpt4__demo-run/repo-i1");
    assert_eq!(s.title.as_deref(), Some("SyntaxError: invalid syntax in missing_colon.py"), "not the demo's issue");
    assert!(s.events.iter().all(|e| e.role != Role::User), "no person in the loop");
    assert_eq!(of_kind(&s, EventKind::System).len(), 3, "system prompt, demonstration, instance template");
    let calls: Vec<_> = of_kind(&s, EventKind::ToolCall).iter().filter_map(|e| e.tool_name.as_deref()).collect();
    assert_eq!(calls, ["open", "edit", "edit", "submit"]);
    let errors: Vec<_> = of_kind(&s, EventKind::ToolResult).iter().map(|e| e.is_error).collect();
    assert_eq!(errors, [false, true, false], "the rejected edit");
    let info = s.events.last().unwrap();
    assert_eq!(info.text.as_deref(), Some("exit_status: submitted"));
    let p = parsed("swe-agent/gpt4__demo-run/repo-i1.traj", Format::SweAgent, &Hints::default());
    assert_eq!(p.report.skipped.get("trajectory-step"), Some(&4), "the steps repeat the history");
}

#[test]
fn swe_agent_tool_calling_trajectories() {
    let s = session("swe-agent/gpt4__demo-run/sweagenttestrepo-1c2844.traj", Format::Auto);
    assert_eq!(s.title.as_deref(), Some("SyntaxError in missing_colon.py"));
    let call = of_kind(&s, EventKind::ToolCall)[0];
    assert_eq!(
        (call.tool_name.as_deref(), call.tool_input.as_deref()),
        (Some("find_file"), Some(r#"{"file_name":"missing_colon.py"}"#))
    );
    let result = of_kind(&s, EventKind::ToolResult)[0];
    assert_eq!((result.tool_use_id.as_deref(), result.tool_name.as_deref()), (Some("call_f1"), Some("find_file")));
    assert!(result.is_error, "command not found");
}

#[test]
fn swe_agent_steps_past_the_history_are_read_from_the_trajectory() {
    // The history of a tool-calling run stops before its final `submit`;
    // the trajectory has it (and the run's info says it was submitted).
    let doc = serde_json::json!({
        "environment": "swe_main",
        "history": [
            {"role": "system", "content": "You are an autonomous programmer."},
            {"role": "user", "content": "ISSUE:\nDivision crashes"},
            {"role": "assistant", "content": "Run it.", "thought": "Run it.", "action": "python x.py",
             "tool_calls": [{"id": "c1", "function": {"name": "bash", "arguments": "{\"command\":\"python x.py\"}"}}]},
            {"role": "tool", "content": "8.2", "tool_call_ids": ["c1"]}
        ],
        "trajectory": [
            {"action": "python x.py", "observation": "8.2", "thought": "Run it."},
            {"action": "submit", "observation": "diff --git a/x.py b/x.py", "thought": "Done: submit."}
        ],
        "info": {"exit_status": "submitted"}
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    let p = nocturne_ingest::parse_file("run/x.traj", &bytes, Format::SweAgent, &Hints::default()).unwrap();
    let s = &p.sessions[0];
    let calls: Vec<_> = of_kind(s, EventKind::ToolCall).iter().filter_map(|e| e.tool_name.as_deref()).collect();
    assert_eq!(calls, ["bash", "submit"]);
    let last = of_kind(s, EventKind::ToolResult).last().and_then(|e| e.text.clone());
    assert_eq!(last.as_deref(), Some("diff --git a/x.py b/x.py"));
    assert_eq!(p.report.skipped.get("trajectory-step"), Some(&1), "the step the history repeats");
}

#[test]
fn aider_runs_are_sessions_and_its_own_prompts_are_system() {
    let p = parsed("aider.chat.history.md", Format::Auto, &Hints::default());
    let ids: Vec<_> = p.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["aider.chat.history/2024-08-05T19:33:02", "aider.chat.history/2024-08-05T19:40:11"]);
    assert_eq!(p.report.skipped.get("mode-line"), Some(&1));
    let (trivial, run) = (&p.sessions[0], &p.sessions[1]);
    assert_eq!(trivial.title, None, "only /ex was typed");
    assert_eq!(trivial.events[0].timestamp.as_deref(), Some("2024-08-05T19:33:02"));
    assert_eq!(run.title.as_deref(), Some("Use the Spinner instead of the inlined custom spinner"));
    assert_eq!(run.counterpart, Some(Counterpart::Operator));
    assert_eq!(
        users(run),
        [
            "Use the Spinner instead of the inlined custom spinner\nand keep the output format.",
            "/run ls tests",
            "/ask why does the spinner flicker on windows?",
        ]
    );
    let echo = run.events.iter().find(|e| e.source_line == Some(73)).unwrap();
    assert_eq!((echo.role, echo.kind), (Role::System, EventKind::System), "aider's echo of the /ask question");
    let lint =
        run.events.iter().find(|e| e.text.as_deref().is_some_and(|t| t.starts_with("# Fix any errors"))).unwrap();
    assert_eq!((lint.role, lint.kind), (Role::System, EventKind::System));
    let outputs = of_kind(run, EventKind::ToolResult);
    let errors: Vec<bool> = outputs.iter().map(|e| e.is_error).collect();
    assert_eq!(errors, [true, true, false, false], "no exact match; flake8 failed; applied; ls");
    assert_eq!(
        outputs[3].text.as_deref(),
        Some("basic\nhelp\nscrape\nAdd the output to the chat? (y/n/instructions): n")
    );
    assert_eq!(of_kind(run, EventKind::AssistantMessage).len(), 4);
}

#[test]
fn nocturne_headers_carry_sub_agent_links() {
    let all = sessions("nocturne-subagent.jsonl", Format::Auto);
    let s = &all[0];
    assert_eq!((s.parent.as_deref(), s.counterpart), (Some("5d1e0f2a"), Some(Counterpart::Agent)));
    let sub = s.subagent.as_ref().unwrap();
    assert_eq!((sub.agent_id.as_str(), sub.agent_type.as_deref()), ("a1b2", Some("Explore")));
    assert_eq!(all[1].counterpart, Some(Counterpart::Customer));
}

#[test]
fn mini_swe_agent_replies_are_bash_calls_and_return_codes_decide_errors() {
    let s = session("swe-agent/mini-swe-agent.traj.json", Format::Auto);
    assert_eq!(s.format, "swe-agent");
    assert_eq!(s.title.as_deref(), Some("divide() crashes on zero"));
    assert!(s.events.iter().all(|e| e.role != Role::User), "the task and the outputs are not a person");
    let calls: Vec<_> =
        of_kind(&s, EventKind::ToolCall).iter().map(|e| (e.tool_name.as_deref(), e.tool_input.as_deref())).collect();
    assert_eq!(calls[0], (Some("bash"), Some(r#"{"command":"python -m pytest -q"}"#)));
    assert_eq!(calls.len(), 3);
    let errors: Vec<_> = of_kind(&s, EventKind::ToolResult).iter().map(|e| e.is_error).collect();
    assert_eq!(errors, [true, false], "returncode 1, then 0");
}
