//! Walking and dropping a syntax tree without recursion.
//!
//! Hostile code can nest as deep as it likes (`f(f(f(…)))` ten thousand times, a `+` chain
//! of a million terms): Ruff's parser copes (it grows its stack), but a recursive visitor —
//! or the compiler-generated `Drop` of the tree — would overflow the thread's stack and
//! abort the whole process. So the analyzer walks with an explicit work stack ([`Walk`],
//! which can carry a state of the caller's down the tree: the rules, the semantic model
//! and the complexity measures all walk with it), measures depth the same way
//! ([`max_depth`]), and takes a tree apart node by node ([`dismantle`]) instead of
//! letting it drop recursively.

use std::cell::RefCell;

use ruff_python_ast::visitor::source_order::{SourceOrderVisitor, TraversalSignal};
use ruff_python_ast::visitor::transformer::{self, Transformer};
use ruff_python_ast::{
    AnyNodeRef, AtomicNodeIndex, Expr, ExprNoneLiteral, ModModule, Pattern, PatternMatchAs, Stmt,
    StmtPass,
};
use ruff_text_size::TextRange;

/// Collects the direct children of one node: `enter_node` records the child and tells the
/// walk not to go further, so each call looks exactly one level down.
struct Children<'a, 'b> {
    out: &'b mut Vec<AnyNodeRef<'a>>,
}

impl<'a> SourceOrderVisitor<'a> for Children<'a, '_> {
    fn enter_node(&mut self, node: AnyNodeRef<'a>) -> TraversalSignal {
        if !matches!(node, AnyNodeRef::Identifier(_)) {
            self.out.push(node);
        }
        TraversalSignal::Skip
    }
}

/// Appends the direct children of `node` to `out`, in source order.
pub fn children<'a>(node: AnyNodeRef<'a>, out: &mut Vec<AnyNodeRef<'a>>) {
    node.visit_source_order(&mut Children { out });
}

/// One node met by a [`Walk`].
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a, S = ()> {
    pub node: AnyNodeRef<'a>,
    /// The node this one is a direct child of (None for a root).
    pub parent: Option<AnyNodeRef<'a>>,
    /// 0 for a root.
    pub depth: u32,
    /// What the walk carries down the tree: the roots' state, which every child inherits
    /// unless [`Walk::descend`] gives it another (`()` in a plain walk).
    pub state: S,
}

/// Pre-order, source-order traversal of a tree with an explicit stack: no recursion, so
/// no depth of nesting can overflow the thread's stack.
#[derive(Debug)]
pub struct Walk<'a, S = ()> {
    stack: Vec<Entry<'a, S>>,
    /// The node returned last, whose children are pushed on the next call (unless skipped
    /// or already pushed by [`Walk::descend`]).
    pending: Option<Entry<'a, S>>,
    skip: bool,
    buffer: Vec<AnyNodeRef<'a>>,
}

impl<'a> Walk<'a> {
    pub fn new(root: AnyNodeRef<'a>) -> Walk<'a> {
        Walk::over([root])
    }

    /// A walk over each of `roots` in turn (the statements of a body), each a root.
    pub fn over(roots: impl IntoIterator<Item = AnyNodeRef<'a>>) -> Walk<'a> {
        Walk::with_state(roots, ())
    }

    /// A walk over the children of `root` and below, without `root` itself.
    pub fn below(root: AnyNodeRef<'a>) -> Walk<'a> {
        let mut walk = Walk::new(root);
        walk.next();
        walk
    }
}

impl<'a, S: Clone> Walk<'a, S> {
    /// A walk over each of `roots` in turn, every node carrying `state` unless
    /// [`Walk::descend`] gives it another.
    pub fn with_state(roots: impl IntoIterator<Item = AnyNodeRef<'a>>, state: S) -> Walk<'a, S> {
        let mut stack: Vec<Entry<'a, S>> = roots
            .into_iter()
            .map(|node| Entry {
                node,
                parent: None,
                depth: 0,
                state: state.clone(),
            })
            .collect();
        stack.reverse();
        Walk {
            stack,
            pending: None,
            skip: false,
            buffer: Vec::new(),
        }
    }

    /// Do not descend into the node returned last.
    pub fn skip_children(&mut self) {
        self.skip = true;
    }

    /// Descend into the node returned last now, giving each of its children the state
    /// `state` returns for it (instead of the node's own).
    pub fn descend(&mut self, state: impl FnMut(AnyNodeRef<'a>) -> S) {
        if let Some(pending) = self.pending.take() {
            self.expand(&pending, state);
        }
    }

    fn expand(&mut self, entry: &Entry<'a, S>, mut state: impl FnMut(AnyNodeRef<'a>) -> S) {
        self.buffer.clear();
        children(entry.node, &mut self.buffer);
        for &child in self.buffer.iter().rev() {
            self.stack.push(Entry {
                node: child,
                parent: Some(entry.node),
                depth: entry.depth.saturating_add(1),
                state: state(child),
            });
        }
    }
}

impl<'a, S: Clone> Iterator for Walk<'a, S> {
    type Item = Entry<'a, S>;

    fn next(&mut self) -> Option<Entry<'a, S>> {
        if let Some(pending) = self.pending.take() {
            if !self.skip {
                let inherited = pending.state.clone();
                self.expand(&pending, |_| inherited.clone());
            }
        }
        self.skip = false;
        let entry = self.stack.pop()?;
        self.pending = Some(entry.clone());
        Some(entry)
    }
}

/// The depth of the deepest node under `root` (0 for a leaf).
pub fn max_depth(root: AnyNodeRef<'_>) -> u32 {
    Walk::new(root).map(|e| e.depth).max().unwrap_or(0)
}

/// A tree node taken out of its parent, waiting to be taken apart.
enum Owned {
    Stmt(Stmt),
    Expr(Expr),
    Pattern(Pattern),
}

/// Moves every child statement, expression and pattern out of the node it walks, leaving
/// a leaf in its place.
#[derive(Default)]
struct Taker {
    taken: RefCell<Vec<Owned>>,
}

impl Transformer for Taker {
    fn visit_stmt(&self, stmt: &mut Stmt) {
        let placeholder = Stmt::Pass(StmtPass {
            node_index: AtomicNodeIndex::default(),
            range: TextRange::default(),
        });
        let stmt = std::mem::replace(stmt, placeholder);
        self.taken.borrow_mut().push(Owned::Stmt(stmt));
    }

    fn visit_expr(&self, expr: &mut Expr) {
        let expr = std::mem::replace(expr, Expr::NoneLiteral(ExprNoneLiteral::default()));
        self.taken.borrow_mut().push(Owned::Expr(expr));
    }

    fn visit_pattern(&self, pattern: &mut Pattern) {
        let placeholder = Pattern::MatchAs(PatternMatchAs {
            node_index: AtomicNodeIndex::default(),
            range: TextRange::default(),
            pattern: None,
            name: None,
        });
        let pattern = std::mem::replace(pattern, placeholder);
        self.taken.borrow_mut().push(Owned::Pattern(pattern));
    }
}

/// Drops a module without recursion: every node is emptied of its children before it is
/// dropped, so dropping it is shallow whatever the depth of the tree.
pub fn dismantle(mut module: ModModule) {
    let taker = Taker::default();
    let mut work: Vec<Owned> = module.body.drain(..).map(Owned::Stmt).collect();
    drop(module);
    while let Some(mut item) = work.pop() {
        match &mut item {
            Owned::Stmt(stmt) => transformer::walk_stmt(&taker, stmt),
            Owned::Expr(expr) => transformer::walk_expr(&taker, expr),
            Owned::Pattern(pattern) => transformer::walk_pattern(&taker, pattern),
        }
        drop(item);
        work.append(&mut taker.taken.borrow_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(code: &str) -> ModModule {
        ruff_python_parser::parse_module(code)
            .expect("parses")
            .into_syntax()
    }

    #[test]
    fn walks_in_source_order_with_parents() {
        let module = parse("x = f(a, b)\n");
        let names: Vec<String> = Walk::new(AnyNodeRef::from(&module))
            .filter_map(|e| match e.node {
                AnyNodeRef::ExprName(n) => Some(format!("{}@{}", n.id, e.depth)),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["x@2", "f@3", "a@4", "b@4"]);
    }

    #[test]
    fn skip_children_prunes() {
        let module = parse("def f():\n    eval(x)\ny = 1\n");
        let mut walk = Walk::new(AnyNodeRef::from(&module));
        let mut seen = Vec::new();
        while let Some(entry) = walk.next() {
            if matches!(entry.node, AnyNodeRef::StmtFunctionDef(_)) {
                walk.skip_children();
            }
            if let AnyNodeRef::ExprName(n) = entry.node {
                seen.push(n.id.to_string());
            }
        }
        assert_eq!(seen, ["y"]);
    }

    #[test]
    fn states_are_inherited_unless_descend_sets_them() {
        let module = parse("f(a, [b])\ng(c)\n");
        let mut walk = Walk::with_state(module.body.iter().map(AnyNodeRef::from), 0);
        let mut seen = Vec::new();
        while let Some(entry) = walk.next() {
            match entry.node {
                AnyNodeRef::ExprName(n) => seen.push(format!("{}:{}", n.id, entry.state)),
                AnyNodeRef::ExprList(_) => walk.descend(|_| entry.state + 1),
                _ => {}
            }
        }
        assert_eq!(seen, ["f:0", "a:0", "b:1", "g:0", "c:0"]);
    }

    #[test]
    fn deep_trees_walk_and_drop() {
        let code = format!("x = {}1{}\n", "f(".repeat(20_000), ")".repeat(20_000));
        let module = parse(&code);
        assert!(max_depth(AnyNodeRef::from(&module)) > 20_000);
        dismantle(module);
        let code = format!("x = 1{}\n", "+1".repeat(200_000));
        dismantle(parse(&code));
    }
}
