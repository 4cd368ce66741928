use async_trait::async_trait;

use super::{BotError, BotReply, ChatBot, Speaker};

/// The tutorial's rule bot (`chatbot.js`), answer for answer: greet when the
/// message says hello or hi, promise an answer to questions, and ask for one
/// otherwise.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleBot;

#[async_trait]
impl ChatBot for RuleBot {
    async fn reply(&self, speaker: Speaker<'_>, message: &str) -> Result<Vec<BotReply>, BotError> {
        Ok(replies(speaker, message))
    }

    fn reply_now(&self, speaker: Speaker<'_>, message: &str) -> Option<Vec<BotReply>> {
        Some(replies(speaker, message))
    }
}

fn replies(speaker: Speaker<'_>, message: &str) -> Vec<BotReply> {
    get_response(speaker.name, message)
        .into_iter()
        .map(BotReply::text)
        .collect()
}

/// `getResponse` from the tutorial. Its `includes('hi')` also matches words
/// like "this"; that quirk is kept on purpose, to answer exactly as it did.
fn get_response(sender: &str, message: &str) -> Vec<String> {
    if sender.is_empty() {
        return vec!["Hello!".into(), "What is your name?".into()];
    }
    if message.is_empty() {
        return vec!["What did you want to ask?".into()];
    }
    let mut replies = Vec::new();
    let lower = message.to_lowercase();
    if lower.contains("hello") || lower.contains("hi") {
        replies.push(format!("Hello, {sender}!"));
    }
    if message.contains('?') {
        replies.push("We will be right with you to answer your question.".into());
    } else {
        replies.push("Did you have a question for us today?".into());
    }
    replies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_and_promises_an_answer_to_a_question() {
        assert_eq!(
            get_response("ann", "hello there?"),
            [
                "Hello, ann!",
                "We will be right with you to answer your question."
            ]
        );
    }

    #[test]
    fn asks_for_a_question_when_there_is_none() {
        assert_eq!(
            get_response("bob", "nice weather"),
            ["Did you have a question for us today?"]
        );
    }

    #[test]
    fn greeting_is_case_insensitive_but_question_mark_is_literal() {
        assert_eq!(
            get_response("cy", "HI"),
            ["Hello, cy!", "Did you have a question for us today?"]
        );
    }

    #[test]
    fn asks_for_a_name_when_there_is_no_sender() {
        assert_eq!(get_response("", "hello"), ["Hello!", "What is your name?"]);
    }

    #[test]
    fn asks_what_to_ask_when_there_is_no_message() {
        assert_eq!(get_response("ann", ""), ["What did you want to ask?"]);
    }

    #[test]
    fn keeps_the_tutorials_substring_quirk() {
        assert_eq!(
            get_response("dee", "this one"),
            ["Hello, dee!", "Did you have a question for us today?"]
        );
    }

    #[tokio::test]
    async fn the_trait_gives_the_same_answers() {
        let speaker = Speaker::new("group:ann", "ann");
        let replies = RuleBot.reply(speaker, "hello there?").await.unwrap();
        let texts: Vec<_> = replies.into_iter().map(|reply| reply.text).collect();
        assert_eq!(texts, get_response("ann", "hello there?"));
        let now = RuleBot.reply_now(speaker, "hello there?").unwrap();
        assert_eq!(now, RuleBot.reply(speaker, "hello there?").await.unwrap());
    }
}
