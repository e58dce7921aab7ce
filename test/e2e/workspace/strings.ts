// String helpers: a sample file for trying LocalMoE's inline completions and chat.

export function reverse(text: string): string {
  return text.split('').reverse().join('');
}

export function isPalindrome(text: string): boolean {
  const cleaned = text.toLowerCase().replace(/[^a-z0-9]/g, '');
  return cleaned === reverse(cleaned);
}

export function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
