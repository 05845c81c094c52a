//! Interest management: which entities a player receives.
//!
//! A uniform grid over quantized positions, rebuilt once per tick; each player's query visits
//! only the cells its view circle touches, so the per-player cost follows what it can see,
//! not the size of the room.

use tickwire_shared::quant::POSITION_SCALE;
use tickwire_shared::{EntityState, QVec2};

/// Quantized positions are `i16`: this many steps along an axis.
const RANGE: i32 = 1 << 16;

/// The grid spans the whole quantized range with at most this many cells along an axis
/// (1,024 cells, 4 KiB of counts per room at most; about 6 along an axis with the default view
/// radius), so a cell is found by its index, not by hashing its coordinates. A view radius
/// under 128 units gets 128-unit cells: a query looks at more entities, the answer is the same.
const MAX_CELLS_PER_AXIS: i32 = 32;

/// Entities bucketed by grid cell: their indices sorted by cell (a counting sort per tick),
/// and where each cell's run starts.
#[derive(Debug)]
pub struct InterestGrid {
    /// Cell edge in quantized position steps.
    cell: i32,
    /// Cells along an axis.
    per_axis: i32,
    /// Cell `c`'s entities are `by_cell[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    by_cell: Vec<u32>,
    /// One bit per entity, all clear between queries: a query marks what it finds and reads
    /// the marks back in index order, so its answer comes out sorted without a sort (sorting
    /// each player's entities by id was a tenth of the room tick's instructions).
    found: Vec<u64>,
    /// Indices of the entities every query finds wherever they are
    /// ([`crate::game::Game::always_visible`]).
    everywhere: Vec<u32>,
}

impl InterestGrid {
    /// An empty grid whose cells are `view_radius` world units wide (so a query touches at
    /// most 3 x 3 cells), or wider for a small radius (see `MAX_CELLS_PER_AXIS`).
    pub fn new(view_radius: u16) -> Self {
        let cell = ((f32::from(view_radius.max(1)) * POSITION_SCALE) as i32)
            .max(RANGE / MAX_CELLS_PER_AXIS);
        let per_axis = (RANGE + cell - 1) / cell;
        let cells = (per_axis * per_axis) as usize;
        InterestGrid {
            cell,
            per_axis,
            starts: vec![0; cells + 1],
            by_cell: Vec::new(),
            found: Vec::new(),
            everywhere: Vec::new(),
        }
    }

    /// The cell along one axis of a quantized coordinate.
    fn axis(&self, q: i16) -> i32 {
        (i32::from(q) - i32::from(i16::MIN)) / self.cell
    }

    fn index(&self, p: QVec2) -> usize {
        (self.axis(p.y) * self.per_axis + self.axis(p.x)) as usize
    }

    /// Re-buckets `entities`, sorted by id as the room keeps them (keeps the allocations of
    /// the previous tick); those `everywhere` says are found by every query, at any distance.
    pub fn rebuild(&mut self, entities: &[EntityState], everywhere: impl Fn(&EntityState) -> bool) {
        debug_assert!(entities.is_sorted_by_key(|e| e.id.0), "entities sorted by id");
        self.everywhere.clear();
        self.everywhere.extend(
            entities.iter().enumerate().filter(|(_, e)| everywhere(e)).map(|(i, _)| i as u32),
        );
        self.found.clear();
        self.found.resize(entities.len().div_ceil(64), 0);
        // Counts per cell, shifted by one so that the running sum leaves each cell's start.
        self.starts.fill(0);
        for e in entities {
            let cell = self.index(e.pos);
            self.starts[cell + 1] += 1;
        }
        for c in 1..self.starts.len() {
            self.starts[c] += self.starts[c - 1];
        }
        self.by_cell.clear();
        self.by_cell.resize(entities.len(), 0);
        // Fill each cell from its start, using the start as a cursor, then move the cursors
        // back: cell c's cursor ends where cell c + 1 starts.
        for (i, e) in entities.iter().enumerate() {
            let cell = self.index(e.pos);
            self.by_cell[self.starts[cell] as usize] = i as u32;
            self.starts[cell] += 1;
        }
        for c in (1..self.starts.len()).rev() {
            self.starts[c] = self.starts[c - 1];
        }
        self.starts[0] = 0;
    }

    /// Appends to `out` the entities within `radius` world units of `centre`, sorted by id.
    /// `entities` is the slice the grid was last rebuilt from.
    pub fn query(
        &mut self,
        entities: &[EntityState],
        centre: QVec2,
        radius: u16,
        out: &mut Vec<EntityState>,
    ) {
        let r = i64::from(radius) * POSITION_SCALE as i64;
        let reach = (r / i64::from(self.cell)) as i32 + 1;
        let (cx, cy) = (self.axis(centre.x), self.axis(centre.y));
        for gy in (cy - reach).max(0)..=(cy + reach).min(self.per_axis - 1) {
            for gx in (cx - reach).max(0)..=(cx + reach).min(self.per_axis - 1) {
                let cell = (gy * self.per_axis + gx) as usize;
                let run = self.starts[cell] as usize..self.starts[cell + 1] as usize;
                for &i in &self.by_cell[run] {
                    let e = &entities[i as usize];
                    let dx = i64::from(e.pos.x) - i64::from(centre.x);
                    let dy = i64::from(e.pos.y) - i64::from(centre.y);
                    if dx * dx + dy * dy <= r * r {
                        self.found[i as usize / 64] |= 1 << (i % 64);
                    }
                }
            }
        }
        for &i in &self.everywhere {
            self.found[i as usize / 64] |= 1 << (i % 64);
        }
        // Index order is id order; every mark is cleared for the next query. (A word per 64
        // entities: reading them all costs less than tracking which were touched.)
        for word in 0..self.found.len() {
            let mut bits = std::mem::take(&mut self.found[word]);
            while bits != 0 {
                out.push(entities[word * 64 + bits.trailing_zeros() as usize]);
                bits &= bits - 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::EntityId;

    fn at(id: u32, x: f32, y: f32) -> EntityState {
        EntityState {
            id: EntityId(id),
            kind: 0,
            pos: tickwire_shared::quant::quantize_position(glam::Vec2::new(x, y)),
            vel: QVec2::default(),
            heading: 0,
            flags: 0,
            value: 0,
        }
    }

    /// The ids of the entities within `radius` world units of `centre`, sorted, by looking at
    /// every one.
    fn brute_force(entities: &[EntityState], centre: QVec2, radius: u16) -> Vec<u32> {
        let r = i64::from(radius) * POSITION_SCALE as i64;
        let mut ids: Vec<u32> = entities
            .iter()
            .filter(|e| {
                let dx = i64::from(e.pos.x) - i64::from(centre.x);
                let dy = i64::from(e.pos.y) - i64::from(centre.y);
                dx * dx + dy * dy <= r * r
            })
            .map(|e| e.id.0)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// A goal or a flag every player must see: found by every query, at any distance, in id
    /// order with the rest.
    #[test]
    fn entities_seen_everywhere_are_found_by_every_query_in_order() {
        let entities =
            [at(1, 10.0, 10.0), at(2, 900.0, 900.0), at(3, 12.0, 12.0), at(4, 1500.0, 5.0)];
        let mut grid = InterestGrid::new(50);
        grid.rebuild(&entities, |e| e.id.0 == 2 || e.id.0 == 4);
        let mut out = Vec::new();
        grid.query(&entities, entities[0].pos, 50, &mut out);
        let ids: Vec<u32> = out.iter().map(|e| e.id.0).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        // The next tick's rebuild forgets them.
        grid.rebuild(&entities, |_| false);
        out.clear();
        grid.query(&entities, entities[0].pos, 50, &mut out);
        assert_eq!(out.iter().map(|e| e.id.0).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn query_returns_exactly_the_entities_within_radius_sorted() {
        let entities =
            vec![at(1, 0.0, 0.0), at(3, 350.0, 100.0), at(5, 1200.0, 900.0), at(9, 100.0, 100.0)];
        let mut grid = InterestGrid::new(300);
        grid.rebuild(&entities, |_| false);
        let mut out = Vec::new();
        grid.query(&entities, entities[3].pos, 300, &mut out);
        let ids: Vec<u32> = out.iter().map(|e| e.id.0).collect();
        assert_eq!(ids, vec![1, 3, 9]);
        // Appended after what `out` held, and the marks cleared: the same answer again.
        grid.query(&entities, entities[3].pos, 300, &mut out);
        assert_eq!(out.iter().map(|e| e.id.0).collect::<Vec<_>>(), [1, 3, 9, 1, 3, 9]);
    }

    #[test]
    fn brute_force_agrees_on_random_layouts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let entities: Vec<_> = (0..300)
            .map(|i| at(i, rng.random_range(0.0..1600.0), rng.random_range(0.0..1000.0)))
            .collect();
        let mut grid = InterestGrid::new(250);
        grid.rebuild(&entities, |_| false);
        for probe in entities.iter().take(40) {
            let mut out = Vec::new();
            grid.query(&entities, probe.pos, 250, &mut out);
            let expected = brute_force(&entities, probe.pos, 250);
            assert_eq!(out.iter().map(|e| e.id.0).collect::<Vec<_>>(), expected);
        }
    }

    #[test]
    fn brute_force_agrees_over_the_whole_quantized_range_and_any_radius() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let corner = |x: i16, y: i16| QVec2 { x, y };
        let mut entities: Vec<EntityState> = (0..400)
            .map(|i| {
                let mut e = at(i, 0.0, 0.0);
                e.pos = corner(rng.random(), rng.random());
                e
            })
            .collect();
        // The extremes of the range land in the first and last cells.
        for (n, pos) in
            [corner(i16::MIN, i16::MIN), corner(i16::MAX, i16::MAX), corner(i16::MIN, i16::MAX)]
                .into_iter()
                .enumerate()
        {
            let mut e = at(1_000 + n as u32, 0.0, 0.0);
            e.pos = pos;
            entities.push(e);
        }
        for (view, radius) in
            [(1, 1), (50, 50), (250, 250), (700, 700), (250, 2_500), (2_047, 2_047)]
        {
            let mut grid = InterestGrid::new(view);
            grid.rebuild(&entities, |_| false);
            for probe in entities.iter().rev().take(60) {
                let mut out = Vec::new();
                grid.query(&entities, probe.pos, radius, &mut out);
                let expected = brute_force(&entities, probe.pos, radius);
                let got: Vec<u32> = out.iter().map(|e| e.id.0).collect();
                assert_eq!(got, expected, "view {view}, radius {radius}");
            }
        }
    }

    #[test]
    fn a_rebuild_forgets_the_tick_before() {
        let mut grid = InterestGrid::new(100);
        grid.rebuild(&[at(1, 10.0, 10.0), at(2, 900.0, 900.0)], |_| false);
        let moved = [at(2, 12.0, 12.0)];
        grid.rebuild(&moved, |_| false);
        let mut out = Vec::new();
        grid.query(&moved, moved[0].pos, 100, &mut out);
        assert_eq!(out.iter().map(|e| e.id.0).collect::<Vec<_>>(), [2]);
        grid.rebuild(&[], |_| false);
        out.clear();
        grid.query(&[], moved[0].pos, 100, &mut out);
        assert!(out.is_empty());
    }
}
