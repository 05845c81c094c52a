//! Interest management: which entities a player receives.
//!
//! A uniform grid over quantized positions, rebuilt once per tick; each player's query visits
//! only the cells its view circle touches, so the per-player cost follows what it can see,
//! not the size of the room.

use std::collections::HashMap;
use tickwire_shared::quant::POSITION_SCALE;
use tickwire_shared::{EntityState, QVec2};

/// Entities bucketed by grid cell.
#[derive(Debug, Default)]
pub struct InterestGrid {
    /// Cell edge in quantized position steps.
    cell: i32,
    cells: HashMap<(i32, i32), Vec<usize>>,
}

impl InterestGrid {
    /// An empty grid whose cells are `view_radius` world units wide (so a query touches at
    /// most 3 x 3 cells).
    pub fn new(view_radius: u16) -> Self {
        let cell = (f32::from(view_radius.max(1)) * POSITION_SCALE) as i32;
        InterestGrid { cell, cells: HashMap::new() }
    }

    fn key(&self, p: QVec2) -> (i32, i32) {
        (i32::from(p.x).div_euclid(self.cell), i32::from(p.y).div_euclid(self.cell))
    }

    /// Re-buckets `entities` (keeps the allocations of the previous tick).
    pub fn rebuild(&mut self, entities: &[EntityState]) {
        self.cells.values_mut().for_each(Vec::clear);
        for (index, e) in entities.iter().enumerate() {
            let key = self.key(e.pos);
            self.cells.entry(key).or_default().push(index);
        }
        // Drop cells that stayed empty so a room whose ships roam does not keep every cell.
        self.cells.retain(|_, v| !v.is_empty());
    }

    /// Appends to `out` the entities within `radius` world units of `centre`, sorted by id.
    pub fn query(
        &self,
        entities: &[EntityState],
        centre: QVec2,
        radius: u16,
        out: &mut Vec<EntityState>,
    ) {
        let r = i64::from(radius) * POSITION_SCALE as i64;
        let (cx, cy) = self.key(centre);
        let reach = (r / i64::from(self.cell)) as i32 + 1;
        let start = out.len();
        for gx in cx - reach..=cx + reach {
            for gy in cy - reach..=cy + reach {
                let Some(indices) = self.cells.get(&(gx, gy)) else { continue };
                for &i in indices {
                    let e = &entities[i];
                    let dx = i64::from(e.pos.x) - i64::from(centre.x);
                    let dy = i64::from(e.pos.y) - i64::from(centre.y);
                    if dx * dx + dy * dy <= r * r {
                        out.push(*e);
                    }
                }
            }
        }
        out[start..].sort_unstable_by_key(|e| e.id.0);
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

    #[test]
    fn query_returns_exactly_the_entities_within_radius_sorted() {
        let entities =
            vec![at(9, 100.0, 100.0), at(3, 350.0, 100.0), at(5, 1200.0, 900.0), at(1, 0.0, 0.0)];
        let mut grid = InterestGrid::new(300);
        grid.rebuild(&entities);
        let mut out = Vec::new();
        grid.query(&entities, entities[0].pos, 300, &mut out);
        let ids: Vec<u32> = out.iter().map(|e| e.id.0).collect();
        assert_eq!(ids, vec![1, 3, 9]);
    }

    #[test]
    fn brute_force_agrees_on_random_layouts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let entities: Vec<_> = (0..300)
            .map(|i| at(i, rng.random_range(0.0..1600.0), rng.random_range(0.0..1000.0)))
            .collect();
        let mut grid = InterestGrid::new(250);
        grid.rebuild(&entities);
        for probe in entities.iter().take(40) {
            let mut out = Vec::new();
            grid.query(&entities, probe.pos, 250, &mut out);
            let r = 250 * 16;
            let mut expected: Vec<u32> = entities
                .iter()
                .filter(|e| {
                    let dx = i64::from(e.pos.x) - i64::from(probe.pos.x);
                    let dy = i64::from(e.pos.y) - i64::from(probe.pos.y);
                    dx * dx + dy * dy <= r * r
                })
                .map(|e| e.id.0)
                .collect();
            expected.sort_unstable();
            assert_eq!(out.iter().map(|e| e.id.0).collect::<Vec<_>>(), expected);
        }
    }
}
