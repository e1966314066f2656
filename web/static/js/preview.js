// A safe preview of article and lesson HTML. The HTML is parsed by
// DOMParser into an inert document (no script runs, nothing loads) and
// the preview is built from it node by node with createElement and text
// nodes: only the elements and attributes the server's policy keeps
// (service/articles/sanitize.go, bluemonday) are copied, and nothing is
// ever serialised back to markup, so there is no innerHTML and no parser
// round trip to confuse. Hand-written rather than a vendored sanitizer
// (DOMPurify): it copies an allowlist and never emits HTML, so it needs
// none of a sanitizer's serialisation rules, and the server sanitizes
// again on save anyway. Images are shown as placeholders: WeChat's image
// hosts are outside the console's Content-Security-Policy. Inline styles
// are not copied (the console's policy forbids them); the text-align and
// bold the server keeps are mapped to classes.
import { h, safeURL } from './ui.js';

const allowed = new Set(['p', 'br', 'hr', 'strong', 'b', 'em', 'i', 'u', 's', 'sub', 'sup', 'blockquote', 'pre', 'code',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'section', 'span', 'figure', 'figcaption', 'div',
  'table', 'thead', 'tbody', 'tr', 'th', 'td', 'a']);
// dropped with everything inside them (the rest are unwrapped: their text stays)
const dropped = new Set(['script', 'style', 'iframe', 'frame', 'frameset', 'object', 'embed', 'form', 'input', 'textarea',
  'select', 'button', 'noscript', 'template', 'svg', 'math', 'head', 'title', 'meta', 'link', 'base', 'audio', 'video', 'canvas']);
const aligns = new Set(['left', 'center', 'right', 'justify']);
const maxNodes = 20000;
const maxDepth = 64;

// defuse renames style and on… attributes inside tags before parsing:
// the parser checks them against this page's Content-Security-Policy
// (which blocks them) and logs a violation for each. Only to keep the
// console quiet: safety comes from the allowlist copy below, which never
// copies either attribute.
function defuse(html) {
  return html.replace(/<[a-zA-Z][^>]*>/g, (tag) => tag.replace(/([\s/"'])(style|on[a-z]+)(\s*=)/gi, '$1data-p-$2$3'));
}

// previewNodes returns the DOM nodes of html's allowed content.
export function previewNodes(html) {
  const doc = new DOMParser().parseFromString(defuse(String(html || '')), 'text/html');
  let budget = maxNodes;
  function copy(node, depth) {
    if (--budget < 0 || depth > maxDepth) return [];
    if (node.nodeType === Node.TEXT_NODE) return [document.createTextNode(node.nodeValue)];
    if (node.nodeType !== Node.ELEMENT_NODE) return [];
    const tag = node.localName;
    const kids = () => [...node.childNodes].flatMap((c) => copy(c, depth + 1));
    if (dropped.has(tag)) return [];
    if (tag === 'img') return [h('span', { class: 'preview-img' }, '［图片' + (node.getAttribute('alt') ? '：' + node.getAttribute('alt') : '') + '］')];
    if (!allowed.has(tag)) return kids();
    const el = document.createElement(tag);
    if (tag === 'a') {
      const href = safeURL(node.getAttribute('href') || '');
      if (/^https?:/.test(href)) {
        el.href = href;
        el.target = '_blank';
        el.rel = 'noopener noreferrer nofollow';
      }
    }
    if (tag === 'td' || tag === 'th') {
      for (const a of ['colspan', 'rowspan']) {
        const v = node.getAttribute(a);
        if (v && /^[0-9]{1,2}$/.test(v)) el.setAttribute(a, v);
      }
    }
    const style = (node.getAttribute('data-p-style') || '').toLowerCase();
    const align = /(?:^|;)\s*text-align\s*:\s*([a-z]+)/.exec(style);
    if (align && aligns.has(align[1])) el.classList.add('al-' + align[1]);
    if (/(?:^|;)\s*font-weight\s*:\s*bold/.test(style)) el.classList.add('fw-bold');
    for (const c of kids()) el.append(c);
    return [el];
  }
  return [...doc.body.childNodes].flatMap((c) => copy(c, 0));
}

// preview is a box holding the preview of html.
export function preview(html, emptyText = '（正文为空）') {
  const nodes = previewNodes(html);
  return h('div', { class: 'article-preview' }, nodes.length ? nodes : h('p', { class: 'empty' }, emptyText));
}
