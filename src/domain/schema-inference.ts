import type { ColumnSchema } from "../db/schema";

/**
 * The value schema of a dynamic column created without one, guessed from its prompt.
 *
 * Rules are tried in this order and the first that matches wins:
 *   1. boolean  – the prompt asks for a yes/no (or true/false) answer, or one of its sentences is a
 *                 question opening with an auxiliary verb ("Is…?", "Does…?", "Has…?") not addressed to
 *                 "you" ("Can you find…?" is a request, not a yes/no question); without the question
 *                 mark the auxiliary must be followed by a subject ("Is the company hiring").
 *   2. number   – "how many", "how much", "number of", "count".
 *   3. list     – "list", "top N"; maxItems from "top N", "up to N", "at most N", "no more than N".
 *   4. date     – "date(s)", a "when" question.
 *   5. email    – "email" / "e-mail".
 *   6. phone    – "phone", "telephone", "mobile number".
 *   7. url      – "website", "URL", "link", "homepage".
 *   8. text     – anything else, short.
 *
 * The answer's shape outranks what the answer is about: "Does the company have a website?" is a yes/no,
 * "How many emails…" a number, "List their office phone numbers" a list (of phones), "When did they
 * launch their website?" a date. Email comes before url because prompts often name the website as the
 * place to look ("Check their website for a contact email").
 */
export function inferSchema(prompt: string): ColumnSchema {
  const text = prompt.toLowerCase().replace(/\s+/g, " ").trim();

  if (asksYesNo(text)) return { type: "boolean" };
  if (COUNT.test(text)) return { type: "number" };
  if (LIST.test(text) || TOP_N.test(text)) {
    const schema: ColumnSchema = { type: "list", itemType: scalarTypeOf(text) };
    const maxItems = maxItemsOf(text);
    if (maxItems !== undefined) schema.maxItems = maxItems;
    return schema;
  }
  if (DATE.test(text) || WHEN_QUESTION.test(text)) return { type: "date" };
  const scalar = scalarTypeOf(text);
  if (scalar !== "text") return { type: scalar };
  return { type: "text", textFormat: "short" };
}

const AUXILIARIES = "is|are|am|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must";
const SENTENCE_START = "(?:^|[.!?;:]\\s*)";
// A sentence ending in "?" whose first word is an auxiliary, unless the next word is "you": "Can you…".
const YES_NO_QUESTION = new RegExp(`${SENTENCE_START}(?:${AUXILIARIES})\\b(?! (?:you|u)\\b)[^.!?;:]*\\?`);
// The same without the question mark, when the auxiliary is followed by a subject ("Is the company
// hiring", "Do they sell to banks"), which tells it apart from an imperative such as "Do research on…".
const YES_NO_OPENING = new RegExp(
  `${SENTENCE_START}(?:${AUXILIARIES}) (?:the|this|that|these|those|they|it|he|she|there|their|its|his|her|a|an)\\b`,
);
const YES_NO_ANSWER = /\b(?:yes ?(?:\/|or) ?no|true ?(?:\/|or) ?false)\b/;

function asksYesNo(text: string): boolean {
  return YES_NO_ANSWER.test(text) || YES_NO_QUESTION.test(text) || YES_NO_OPENING.test(text);
}

// "Mobile number of the founder" asks for a phone, not a count.
const COUNT = /\bhow (?:many|much)\b|(?<!(?:phone|mobile|telephone|contact|fax) )\bnumber of\b|\bcount\b/;
const LIST = /\blist\b/;
const NUMBER_WORDS: Readonly<Record<string, number>> = {
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};
const QUANTITY = `(\\d+|${Object.keys(NUMBER_WORDS).join("|")})`;
const TOP_N = new RegExp(`\\btop ${QUANTITY}\\b`);
const LIMIT_N = new RegExp(`\\b(?:top|up to|at most|no more than) ${QUANTITY}\\b`);
// "up-to-date" and "to date" are not about dates.
const DATE = /(?<!up[- ]to[- ]|\bto )\bdates?\b/;
const WHEN_QUESTION = /(?:^|[.!?;:]\s*)when\b|\bwhen (?:did|was|were|is|are|will|does|do|has|have)\b/;
const EMAIL = /\be-?mails?\b/;
const PHONE = /\b(?:tele)?phones?\b|\bmobile (?:number|numbers|no)\b/;
const URL = /\b(?:websites?|urls?|links?|homepages?|web ?pages?)\b/;

/** The scalar type a prompt's answer is about (also the item type of a list). */
function scalarTypeOf(text: string): "email" | "phone" | "url" | "text" {
  if (EMAIL.test(text)) return "email";
  if (PHONE.test(text)) return "phone";
  if (URL.test(text)) return "url";
  return "text";
}

function maxItemsOf(text: string): number | undefined {
  const match = LIMIT_N.exec(text);
  if (!match) return undefined;
  const quantity = match[1]!;
  const n = NUMBER_WORDS[quantity] ?? Number.parseInt(quantity, 10);
  return n >= 1 ? n : undefined;
}
