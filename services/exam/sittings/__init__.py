"""Papers (试卷), timed sittings (考试) and their scoring, paper sittings (纸笔考核) and retakes (补考)."""
